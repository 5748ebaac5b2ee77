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

from oceanfed.consensus.counts import Kind, Tally
from oceanfed.wire import Envelope


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
                counters[str(key)] = counters.get(str(key), 0) + v
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


def _points_reached(sim: Simulation, expected: dict[int, str]) -> None:
    for member, point in expected.items():
        if sim.points_hit.get(member, ("",))[0] != point:
            sim._fail(f"m{member} never reached its crash point {point!r}: {sim.points_hit}")


def own_block_after_restart(seed: int, n: int, m: int, filter_own: bool = False) -> dict[str, Any]:
    """The proposer of height 1 round 0 crashes right after broadcasting its proposal B and
    restarts 1 s later; the others decide B; one of them dies for good before signing. M
    members are up, so B must complete: the restarted proposer needs B (and must never
    propose another block in that round). ``filter_own``: the messenger never gives a member
    its own frames back (as Kafka's does), so the proposer's own record must suffice."""
    proposer = 1 % n
    victim = (proposer + 1) % n
    f = Faults(crash_points={proposer: ("proposed", 1.0, 1), victim: ("before-sign", None, 1)},
               filter_own=filter_own, settle_at=0.0)
    sim = Simulation(seed, n, m, f)
    out = sim.run(1.0 + 2 * LIVENESS_BOUND, liveness_bound=LIVENESS_BOUND)
    _points_reached(sim, {proposer: "proposed", victim: "before-sign"})
    if out.height < 2:
        sim._fail(f"the chain stopped at height {out.height}")
    first = sim.node.chain[1]
    if first not in sim.proposals[1] or len(sim.proposals[1]) != 1:
        sim._fail("height 1 was not the restarted proposer's one block")
    return {"height": out.height, "hit": dict(sim.points_hit)}


def validate_warmup(seed: int) -> dict[str, Any]:
    """3-of-4: one member's first ``testproposedblock`` answers -28 (node warming up); the
    other three decide B; one of them dies before signing. The remaining three must decide
    and complete B: the warm-up error is a failure to retry, not a verdict on B."""
    warm, victim = 2, 3
    f = Faults(node_errors={warm: [-28]}, crash_points={victim: ("before-sign", None, 1)},
               settle_at=0.0)
    sim = Simulation(seed, 4, 3, f)
    out = sim.run(2 * LIVENESS_BOUND, liveness_bound=LIVENESS_BOUND)
    _points_reached(sim, {victim: "before-sign"})
    machine = sim.members[warm].machine
    assert machine is not None
    if sim.node_errors[warm] or machine.counters[Tally(Kind.NODE_FAILED, "validate")] < 1:
        sim._fail("the node's warm-up error was never answered")
    if out.height < 2:
        sim._fail(f"the chain stopped at height {out.height}")
    return {"height": out.height, "failed": machine.counters[Tally(Kind.NODE_FAILED, "validate")],
            "rejected": {str(k): v for k, v in machine.counters.items() if k.kind is Kind.PROPOSAL_REJECTED}}


def restart_behind(seed: int, point: str) -> dict[str, Any]:
    """3-of-4 with one member down for good: member 1 crashes at height 3 or later right after
    ``point`` and restarts while its node's tip is two, then one block behind. It must keep
    its saved votes and lock until its node gets there, and vote nothing below."""
    member = 1
    f = Faults(permanently_down={3}, crash_points={member: (point, 0.2, 3)},
               restart_lag={member: [2] * 4 + [1] * 4}, settle_at=0.0)
    sim = Simulation(seed, 4, 3, f)
    out = sim.run(2 * LIVENESS_BOUND, liveness_bound=LIVENESS_BOUND)
    _points_reached(sim, {member: point})
    machine = sim.members[member].machine
    assert machine is not None
    if out.height < sim.points_hit[member][1] + 1:
        sim._fail(f"the chain stopped at height {out.height}")
    return {"height": out.height, "waited": machine.counters[Tally(Kind.HEIGHTS_WAITED)],
            "crashed_at": sim.points_hit[member][1]}


def refuse_after_lost_height_state(seed: int, n: int = 4, m: int = 3) -> dict[str, Any]:
    """A member restored with its sign-state (B signed at height 1) but no height record is
    fed a proposal of B' and M precommits for it: it decides B' but must refuse to sign."""
    from simulator import GENESIS, ROUNDS, SimAuth, make_block, make_challenge

    from oceanfed.consensus import actions as A
    from oceanfed.consensus import events as E
    from oceanfed.consensus.machine import CoreConfig, Machine
    from oceanfed.ocean.encoding import Reader
    from oceanfed.ocean.header import BlockHeader

    def block_hash(block_hex: str) -> str:
        return BlockHeader.read(Reader(bytes.fromhex(block_hex))).hash_hex()

    challenge = make_challenge(m, n)
    signed = make_block(1, GENESIS, challenge, salt=seed)
    other = make_block(1, GENESIS, challenge, salt=seed + 1_000_000)
    cfg = CoreConfig(me=0, names=[f"m{i}" for i in range(n)], threshold=m, challenge=challenge,
                     block_time=0.0, **ROUNDS)  # type: ignore[arg-type]
    restored = {"sign_state": {"height": 1, "block_hash": block_hash(signed), "parent": GENESIS}}
    machine = Machine(cfg, SimAuth(0, n), restored=restored)
    out = machine.start(0.0)
    out += machine.handle(E.NodeTip(0, GENESIS), 0.01)
    proposer = machine.proposer(1, 0)
    frames = [SimAuth(proposer, n).seal(1, 0, "proposal", {"block": other, "vr": -1, "pol": []})]
    frames += [SimAuth(i, n).seal(1, 0, kind, {"hash": block_hash(other)})
               for kind in ("prevote", "precommit") for i in range(1, m + 1)]
    now = 0.02
    for frame in frames:
        out += machine.handle(E.Received(frame), now)
        now += 0.001
    for action in list(out):
        if isinstance(action, A.Validate):
            out += machine.handle(E.Validated(action.height, action.block_hash, None), now)
    for _ in range(5):
        now += 1.0
        out += machine.handle(E.Tick(), now)
    assert machine.h is not None
    signs = [a for a in out if isinstance(a, A.Sign)]
    if machine.h.decided != block_hash(other):
        raise InvariantViolation(f"the member did not decide B' (decided {machine.h.decided})")
    if signs:
        raise InvariantViolation(f"the member signed {signs[0].block_hash} over its sign-state")
    return {"refused": machine.counters[Tally(Kind.SIGN_REFUSED)]}


def lock_rule(seed: int) -> dict[str, Any]:
    """A crafted 3-of-4 schedule that only the lock rule keeps safe. Round 0: everyone
    prevotes B; m1 and m3 lock on B, but only m0 gets their precommits: it decides B, then
    is cut off. m2 never sees round 0's polka, so in round 1 it proposes a fresh B'. m1 and
    m3 must prevote nil (they are locked on B); if they prevoted B', three members would
    decide B' while m0 decided B."""
    def drop(env: Envelope, to: int) -> bool:
        if env.height != 1:
            return False
        if env.sender == 0 and not (env.kind == "prevote" and env.round == 0):
            return True
        if env.kind == "precommit" and env.round == 0 and to != 0:
            return True
        return env.kind == "prevote" and env.round == 0 and to == 2

    settle = 3.0
    sim = Simulation(seed, 4, 3, Faults(drop=drop, settle_at=settle))
    sim.run(settle)
    decided, first = sim.decisions.get(1, ("", -1))
    if first != 0 or len(sim.proposals[1]) < 2:
        sim._fail("the schedule did not happen: m0 did not decide first, or no B' was proposed")
    out = sim.run(settle + 2 * LIVENESS_BOUND, liveness_bound=LIVENESS_BOUND)
    if sim.node.chain[1] != decided:
        sim._fail("height 1 completed another block than m0 decided")
    return {"height": out.height, "proposed_at_1": len(sim.proposals[1])}


def submitters_crash_after_combining(seed: int, back: float | None) -> dict[str, Any]:
    """3-of-5: the two members that submit height 1's block at once (its round-0 proposer m1
    and height 2's first proposer m2) crash right after combining M SIGs, before submitting
    (``back``: restart after this many seconds, None: stay down). The three others hold M
    SIGs too: they submit it after the grace, and the chain goes on."""
    f = Faults(crash_points={1: ("combined", back, 1), 2: ("combined", back, 1)}, settle_at=0.0)
    sim = Simulation(seed, 5, 3, f)
    out = sim.run(2 * LIVENESS_BOUND, liveness_bound=LIVENESS_BOUND)
    _points_reached(sim, {1: "combined", 2: "combined"})
    if out.height < 3:
        sim._fail(f"the chain stopped at height {out.height}")
    if not set(sim.submitters[1]) <= {0, 3, 4}:
        sim._fail(f"height 1 was submitted by {sim.submitters[1]}, not only by those that waited")
    return {"height": out.height, "first_submitters": sorted(set(sim.submitters[1]))}


def submits_per_height(seed: int, n: int, m: int) -> dict[str, Any]:
    """A fault-free run with block_time = 0: how many submits each height took."""
    sim = Simulation(seed, n, m, Faults(settle_at=0.0), block_time=0.0)
    out = sim.run(3.0, liveness_bound=LIVENESS_BOUND)
    heights = range(1, out.height + 1)
    return {"height": out.height, "submits": [len(sim.submitters[h]) for h in heights]}
