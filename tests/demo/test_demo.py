"""`oceanfed demo` end to end: real devnet, members, clients, inflation and chaos."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from testsupport.processes import Spawned, oceanfed_args
from testsupport.waiting import wait_until

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
    from oceanfed_devnet.hsm_members import softhsm_unavailable

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


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_demo_cleans_up_when_signalled(tmp_path: Path, sig: int) -> None:
    """Stopped by a signal (a closed terminal, a service manager), nothing is left running."""
    work = tmp_path / "demo"
    demo = Spawned(
        oceanfed_args("demo", "--plain", "--dir", str(work), "--inflation-period", "0"),
        tmp_path / "output", "demo",
    )
    try:
        demo.wait_for_line(lambda line: line.startswith("block "), timeout=120,
                           what="the demo's first block")
        children = [p for p in _processes_mentioning(str(work)) if p != demo.pid]
        assert children, "the demo started no member processes"
        demo.proc.send_signal(sig)
        demo.proc.wait(timeout=60)
    finally:
        demo.stop(signal.SIGKILL)
    wait_until(lambda: _processes_mentioning(str(work)) == [], timeout=30,
               what="every process of the demo to end")


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(int(entry.name))
    return found
