"""The ``oceanfed`` command line."""
