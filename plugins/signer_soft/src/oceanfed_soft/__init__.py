"""Soft-key signer for oceanfed."""
