#!/usr/bin/env bash
# Set up everything oceanfed needs on a fresh Debian machine, idempotently:
# a virtualenv in .venv with the core and every plugin (editable), the test tools,
# SoftHSM2 from Debian (when run as root, or with sudo), and the Kafka-protocol test broker.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q \
  -e ./plugins/messenger_zmq -e ./plugins/messenger_kafka -e ./plugins/signer_soft \
  -e ./plugins/signer_pkcs11 -e ./plugins/inflation -e './core[all]' \
  -r scripts/requirements-dev.txt
if [ "${OCEANFED_SKIP_APT:-0}" != 1 ] && ! command -v softhsm2-util >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  if $SUDO true 2>/dev/null; then
    $SUDO apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq softhsm2 >/dev/null
  else
    echo "setup: softhsm2 is not installed and apt-get is not available; HSM tests will be skipped" >&2
  fi
fi
echo "setup: ready (.venv/bin/oceanfed)"
