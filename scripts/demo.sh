#!/usr/bin/env bash
# Set everything up, then run the demo federation on the embedded devnet (Ctrl-C to stop).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/oceanfed demo "$@"
