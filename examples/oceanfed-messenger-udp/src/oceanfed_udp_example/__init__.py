"""Example oceanfed plugins: a UDP messenger and an audit-log hook."""

__version__ = "0.1.0"
