"""Real processes under chaos: SIGKILL, SIGSTOP/SIGCONT, a node endpoint going away.

CI: a 3-of-4 federation until at least 200 blocks (so at least 200 rounds) are produced
under chaos. ``--soak``: 2,000 blocks. Results: no fork, no signature without its persisted
sign-state, no sign-state lost or changed, and production resumes with nobody acting.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import Chaos

pytestmark = pytest.mark.slow


def test_chaos(tmp_path: Path, soak: bool) -> None:
    blocks = 2000 if soak else 200
    chaos = Chaos(tmp_path / "fed", members=4, threshold=3, seed=20261125)
    report = chaos.run(blocks=blocks, max_seconds=3600 if soak else 240)
    print(f"\nchaos: {report}")
    assert not report.problems, "\n".join(report.problems[:20])
    assert report.blocks >= blocks
    assert report.rounds >= blocks
    assert report.kills >= 10 and report.pauses >= 3 and report.endpoint_stops >= 3
