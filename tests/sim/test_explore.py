"""Bounded exhaustive exploration of the real machine (see ``explore.py``): every interleaving
within the bounds below, every check at every state. Each bound prints its figures."""

from __future__ import annotations

import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from explore import Bounds, Result, explore  # noqa: E402

#: what CI explores (about three minutes on a busy two-core machine, the bounds in parallel):
#: every interleaving of timely rounds, then the first states depth-first with early
#: timeouts, and with a crash-restart (their whole spaces take hours: run them by hand)
CI_BOUNDS = [
    Bounds(3, 2, max_round=1),
    Bounds(3, 2, max_round=1, early=2, max_states=40_000),
    Bounds(3, 2, max_round=1, crashes=1, max_states=40_000),
]


@pytest.mark.parametrize("bounds", CI_BOUNDS, ids=lambda b: b.describe().replace(" ", "_"))
def test_explore(sim_pool: ProcessPoolExecutor, bounds: Bounds) -> None:
    res: Result = sim_pool.submit(explore, bounds).result()
    print(f"\nexplored {res.summary()}")
    assert res.complete == (bounds.max_states is None)
    # the exploration reached decisions, and (with early timeouts or crashes) later rounds
    assert res.decided > 0
    assert res.states > 1000
