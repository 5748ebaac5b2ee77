"""The ``oceanfed devnet``, ``demo`` and ``bench`` commands (entry points of ``oceanfed.commands``)."""
