"""``python -m oceanfed``: the same as the ``oceanfed`` command."""

from oceanfed.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
