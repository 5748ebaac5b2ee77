#!/usr/bin/env python3
"""Write docs/configuration.md from the fed.toml schema (core models and plugin Options).

    .venv/bin/python scripts/gen_config_docs.py           # rewrite the file
    .venv/bin/python scripts/gen_config_docs.py --check   # exit 1 if it is out of date
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from oceanfed.configdoc import markdown

DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
#: the distributions of this repository whose plugin options are documented
DISTRIBUTIONS = (
    "oceanfed",
    "oceanfed-messenger-zmq",
    "oceanfed-messenger-kafka",
    "oceanfed-signer-soft",
    "oceanfed-signer-pkcs11",
    "oceanfed-inflation",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the file is current")
    args = parser.parse_args()
    text = markdown(include_plugins=DISTRIBUTIONS)
    if args.check:
        current = DOC.read_text() if DOC.exists() else ""
        if current != text:
            print(f"{DOC} is out of date: run scripts/gen_config_docs.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text)
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
