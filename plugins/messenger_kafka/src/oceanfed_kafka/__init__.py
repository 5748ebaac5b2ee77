"""Kafka messenger for oceanfed."""
