#!/usr/bin/env bash
# Set everything up, then run the linters and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# openCryptoki's soft token, for the CKM_ECDSA_SHA256 signer tests (best effort: on failure
# it says why and those tests skip)
if [ "${OCEANFED_SKIP_APT:-0}" != 1 ]; then
  bash scripts/opencryptoki.sh
fi
# The real Ocean node, built from source into a cache (seconds once built); the tests
# marked realnode run against it. A failed build fails the run.
OCEAND_BINDIR=$(bash scripts/oceand.sh)
export OCEANFED_OCEAND_BINDIR="$OCEAND_BINDIR"
.venv/bin/ruff check core plugins tests examples
.venv/bin/mypy core/src plugins/*/src
.venv/bin/python -m pytest "$@"
# mutation testing of the consensus core (the whole run only): every mutant must be killed
if [ $# -eq 0 ]; then
  .venv/bin/python scripts/mutate.py
fi
