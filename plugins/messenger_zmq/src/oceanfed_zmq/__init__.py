"""ZeroMQ messenger for oceanfed."""
