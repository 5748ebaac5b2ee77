"""The bulk run: over 10,000 seeded schedules across every shape and fault set.

Each schedule checks every invariant at every step and liveness after the network settles
(see ``scenarios.LIVENESS``). A failure names its fault set, shape and seed, with the command
that replays it. ``--soak`` runs twenty times as many seeds, each for longer.
"""

from __future__ import annotations

import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scenarios import FAULT_SETS, LIVENESS, SHAPES, WINDOW, Batch, run_batch  # noqa: E402

#: seeds per shape for each fault set (the 15-member shape costs ten times more per schedule)
SEEDS: dict[tuple[int, int], int] = {(3, 2): 144, (4, 3): 144, (5, 3): 106, (5, 4): 106,
                                     (7, 5): 52, (15, 11): 8}
CHUNK = 40
SOAK_FACTOR = 20


def test_plan_covers_every_shape_and_ten_thousand_schedules() -> None:
    assert set(SEEDS) == set(SHAPES)
    assert len(FAULT_SETS) * sum(SEEDS.values()) >= 10_000


@pytest.mark.parametrize("name", list(FAULT_SETS))
def test_schedules(name: str, sim_pool: ProcessPoolExecutor, soak: bool) -> None:
    factor = SOAK_FACTOR if soak else 1
    window = 3 * WINDOW if soak else WINDOW
    base = 1_000_000 if soak else 0  # the soak explores seeds the CI run does not
    futures = []
    planned = 0
    for (n, m), k in SEEDS.items():
        total = k * factor
        planned += total
        for start in range(0, total, CHUNK):
            seeds = range(base + start, base + min(total, start + CHUNK))
            futures.append(sim_pool.submit(run_batch, name, n, m, seeds, window))
    batches: dict[tuple[int, int], Batch] = {}
    for fut in futures:
        b = fut.result()
        acc = batches.setdefault((b.n, b.m), Batch(name, b.n, b.m))
        acc.schedules += b.schedules
        acc.blocks += b.blocks
        acc.crashes += b.crashes
        acc.steps += b.steps
        acc.seconds += b.seconds
        acc.max_gap = max(acc.max_gap, b.max_gap)
        acc.failures.extend(b.failures)
        for key, v in b.dropped.items():
            acc.dropped[key] = acc.dropped.get(key, 0) + v
    print(f"\n{name}: {LIVENESS}")
    for (n, m), b in batches.items():
        print(f"  {m}-of-{n}: {b.schedules} schedules, {b.blocks} blocks, {b.crashes} crashes, "
              f"{b.steps} steps, longest wait after settling {b.max_gap:.2f}s, "
              f"{b.seconds:.1f}s cpu, dropped {dict(sorted(b.dropped.items()))}")
    failures = [f for b in batches.values() for f in b.failures]
    assert not failures, f"{len(failures)} failing schedules:\n" + "\n".join(failures[:20])
    assert sum(b.schedules for b in batches.values()) == planned
    for b in batches.values():
        assert b.blocks >= b.schedules, f"{name} {b.m}-of-{b.n}: too few blocks"
