#!/usr/bin/env bash
# Set up everything oceanfed needs on a fresh Debian machine, idempotently:
# a virtualenv in .venv with the core and every plugin (editable), the test tools,
# SoftHSM2, stunnel4 and Prometheus from Debian (when run as root, or with sudo), and the
# Kafka-protocol test broker.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q \
  -e ./plugins/messenger_zmq -e ./plugins/messenger_kafka -e ./plugins/signer_soft \
  -e ./plugins/signer_pkcs11 -e ./plugins/inflation -e ./plugins/devnet -e './core[all]' \
  -r scripts/requirements-dev.txt
# Debian packages the tests use as real parts: SoftHSM2 (the PKCS#11 signer), stunnel4 (TLS
# in front of the Kafka test broker) and Prometheus (the dashboard's queries)
missing=""
command -v softhsm2-util >/dev/null 2>&1 || missing="$missing softhsm2"
command -v stunnel4 >/dev/null 2>&1 || missing="$missing stunnel4"
command -v prometheus >/dev/null 2>&1 || missing="$missing prometheus"
if [ "${OCEANFED_SKIP_APT:-0}" != 1 ] && [ -n "$missing" ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  if $SUDO true 2>/dev/null; then
    $SUDO apt-get update -qq >/dev/null
    # shellcheck disable=SC2086 # one word per package
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
      -o DPkg::Lock::Timeout=300 $missing >/dev/null
  else
    echo "setup:$missing not installed and apt-get is not available; the tests needing them will be skipped" >&2
  fi
fi
echo "setup: ready (.venv/bin/oceanfed)"
