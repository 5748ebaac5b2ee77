"""Scheduled token reissuance (inflation) for oceanfed."""
