"""oceanfed: federated block signing for Ocean sidechains."""

__version__ = "0.1.0"
