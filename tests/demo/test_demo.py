"""`oceanfed demo` end to end: real devnet, members, clients, inflation and chaos."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def demo(*args: str, timeout: float = 240) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, "-m", "oceanfed.cli.main", "demo", "--json", *args],
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr[-2000:] + proc.stdout[-2000:]
    assert "Traceback" not in proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_chaos_demo_shows_failover_transactions_and_reissuance() -> None:
    summary = demo("--blocks", "30", "--chaos", "--seed", "7")
    assert summary["blocks"] == 30
    assert summary["failovers"] >= 1
    assert summary["member_kills"] >= 1
    assert summary["tx_blocks"] >= 1
    assert summary["reissuances"] >= 1


def test_demo_over_kafka_starts_its_own_broker() -> None:
    summary = demo("--blocks", "5", "--messenger", "kafka", "--inflation-period", "0")
    assert summary["blocks"] == 5


def test_demo_with_hsm_members() -> None:
    from oceanfed.hsm_members import softhsm_unavailable

    if softhsm_unavailable():
        pytest.skip(softhsm_unavailable())
    summary = demo("--blocks", "5", "--signer", "pkcs11", "--inflation-period", "0")
    assert summary["blocks"] == 5


def test_demo_refuses_a_minority_threshold() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "oceanfed.cli.main", "demo", "--members", "4", "--threshold", "2"],
        capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode != 0
    assert proc.stderr.startswith("oceanfed: error: --threshold 2 of 4 is not a majority")
    assert "Traceback" not in proc.stderr
