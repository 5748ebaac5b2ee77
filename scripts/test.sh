#!/usr/bin/env bash
# Set everything up, then run the linters and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check core plugins tests examples
.venv/bin/mypy core/src plugins/*/src
.venv/bin/python -m pytest "$@"
