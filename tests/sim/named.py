"""The named scenarios of docs/protocol.md ("What the simulator checks"), each a function
of a seed run in a worker.

Every function raises :class:`~simulator.InvariantViolation` on failure and returns a small
summary for the test to check and print.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scenarios import LIVENESS_BOUND  # noqa: E402
from simulator import Faults, InvariantViolation, Simulation  # noqa: E402


def wedge(seed: int) -> dict[str, Any]:
    """The wedge of docs/protocol.md: 4-of-5, member 5 down for good, {1,2} and {3,4} cut apart
    while round 0 (proposer in the first half) and round 1 (proposer in the second) time out,
    30% loss, crashes. A sign-first protocol wedges here for ever; this one must complete."""
    f = Faults(permanently_down={4}, fixed_partition=[{0, 1}, {2, 3}], loss=0.3,
               crash_rate=0.3, down_for=(0.1, 0.8), settle_at=2.0)
    sim = Simulation(seed, 5, 4, f)
    sim.run(2.0)
    proposed = len(sim.proposals.get(1, {}))
    if sim.height != 0:
        sim._fail("a block completed while no four members could talk")
    out = sim.run(2.0 + 2 * LIVENESS_BOUND, liveness_bound=LIVENESS_BOUND)
    if out.height < 2:
        sim._fail(f"the wedge did not clear: height {out.height}")
    return {"proposed_at_1": proposed, "height": out.height, "crashes": out.crashes}


def gossip_recovery(seed: int, kinds: tuple[str, ...], n: int = 5, m: int = 4) -> dict[str, Any]:
    """Every message of ``kinds`` is lost until the network settles; gossip must make it good."""
    settle = 1.5
    f = Faults(drop_kinds=frozenset(kinds), settle_at=settle)
    sim = Simulation(seed, n, m, f)
    sim.run(settle)
    if sim.height != 0:
        sim._fail(f"a block completed although every {kinds} was lost")
    signed_before = {h: set(blocks) for h, blocks in sim.sig_store.items()}
    sim.run(settle + 2 * LIVENESS_BOUND, liveness_bound=LIVENESS_BOUND)
    first = next(t for t, height in sim.progress_log if height >= 1)
    # with only SIGs lost, members had decided and signed before settling: that block completes
    if kinds == ("sig",) and set(sim.completed[1]) - signed_before.get(1, set()):
        sim._fail("height 1 completed a block nobody had signed before the network settled")
    return {"signed_before": {h: len(b) for h, b in signed_before.items()},
            "first_block_after_settle": first - settle, "height": sim.height}


def actions_in_clean_run(n: int, m: int, member: int, until: float) -> int:
    sim = Simulation(0, n, m, Faults(settle_at=0.0))
    sim.run(until)
    return sim.members[member].actions_done


def crash_sweep(n: int, m: int, member: int, until: float = 1.5) -> dict[str, Any]:
    """Crash ``member`` before each of its actions in turn (one run per action), restart it."""
    total = actions_in_clean_run(n, m, member, until)
    hits: set[tuple[str, str]] = set()
    for k in range(total):
        f = Faults(crash_member_at=(member, k), down_for=(0.05, 0.4), settle_at=0.0)
        sim = Simulation(k, n, m, f)
        out = sim.run(until + 2 * LIVENESS_BOUND, liveness_bound=LIVENESS_BOUND)
        if out.crashes != 1:
            sim._fail(f"crash point {k} of m{member} was not reached")
        hits.update(sim.crash_hits)
    return {"points": total, "hits": sorted(hits)}


def split_brain(seed: int, n: int, m: int, halves: list[set[int]]) -> dict[str, Any]:
    """Partition the members *and their nodes* for good; report whether safety broke."""
    f = Faults(fixed_partition=halves, node_groups=halves, settle_at=1e9)
    sim = Simulation(seed, n, m, f)
    try:
        sim.run(6.0)
    except InvariantViolation as exc:
        return {"violation": str(exc), "heights": [len(node.chain) - 1 for node in sim.nodes]}
    return {"violation": None, "heights": sorted({len(node.chain) - 1 for node in sim.nodes})}


def dishonest(seed: int, n: int, m: int, behaviour: str, count: int, **extra: Any) -> dict[str, Any]:
    """``count`` members behave as ``behaviour``; safety always, liveness when M honest remain."""
    byz = {i: behaviour for i in range(count)}
    f = Faults(byzantine=byz, settle_at=1.5, **extra)
    sim = Simulation(seed, n, m, f)
    out = sim.run(1.5 + 2 * LIVENESS_BOUND, liveness_bound=LIVENESS_BOUND)
    counters: dict[str, int] = {}
    for ms in sim.members:
        if ms.machine is not None:
            for key, v in ms.machine.counters.items():
                counters[key] = counters.get(key, 0) + v
    return {"height": out.height, "live": sim.liveness_expected(), "counters": counters}


def outsiders(seed: int) -> dict[str, Any]:
    """A non-member forges frames and an outsider replays recorded ones: all dropped, counted."""
    f = Faults(forger=True, replay=True, settle_at=1.0)
    sim = Simulation(seed, 4, 3, f)
    out = sim.run(4.0, liveness_bound=LIVENESS_BOUND)
    return {"height": out.height, "dropped": out.dropped}


def fingerprint(seed: int, name: str, n: int, m: int) -> tuple[Any, ...]:
    """What a schedule did, to check that a seed replays exactly."""
    from scenarios import faults_for

    sim = Simulation(seed, n, m, faults_for(name, n, m, seed))
    sim.run(4.0)
    return (sim.steps, tuple(sim.progress_log), tuple(sim.node.chain), sim.crashes)
