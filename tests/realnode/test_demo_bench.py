"""``oceanfed demo --node oceand``: the demo's clients, inflation and chaos on real nodes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.realnode, pytest.mark.slow]


def test_chaos_demo_on_real_nodes(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "oceanfed.cli.main", "demo", "--json", "--node", "oceand",
         "--blocks", "25", "--chaos", "--seed", "7", "--dir", str(tmp_path / "demo")],
        capture_output=True, text=True, timeout=400, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr[-2000:] + proc.stdout[-2000:]
    assert "Traceback" not in proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["blocks"] == 25
    assert summary["failovers"] >= 1 and summary["member_kills"] >= 1
    assert summary["tx_blocks"] >= 1
    assert summary["reissuances"] >= 1  # the token moved to the P2SH, whole: fee from the amount
    # every node the demo started is gone
    out = subprocess.run(["pgrep", "-f", str(tmp_path / "demo")], capture_output=True, text=True)
    assert out.stdout.strip() == ""
