"""The catalogue of fault sets the simulator runs, and a command line to replay one schedule.

A schedule is (fault set, shape M-of-N, seed). Everything in it follows from those three, so
a failure prints them and ``python tests/sim/scenarios.py FAULTS M-of-N SEED`` replays it.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from simulator import CRASH_POINTS, ROUNDS, Faults, InvariantViolation, Outcome, Simulation  # noqa: E402

#: the federation shapes the suite covers: (N, M)
SHAPES: list[tuple[int, int]] = [(3, 2), (4, 3), (5, 3), (5, 4), (7, 5), (15, 11)]
#: faults run for this long (simulated seconds), then the network settles
SETTLE_AT = 1.5
#: after settling the chain must grow at least this often (simulated seconds; see LIVENESS)
LIVENESS_BOUND = 3.5
#: how long a schedule runs after settling
WINDOW = 4.5

LIVENESS = (
    f"after the faults stop, a block every {LIVENESS_BOUND:g}s of simulated time at most, with "
    f"propose/prevote/precommit timeouts of {ROUNDS['propose_timeout']}/{ROUNDS['prevote_timeout']}/"
    f"{ROUNDS['precommit_timeout']}s growing {ROUNDS['timeout_step']}s a round"
)


def max_faulty(n: int, m: int) -> int:
    """How many members may vote and sign against the rules with safety kept: 2M - N > f."""
    return max(0, 2 * m - n - 1)


def _pick(rng: random.Random, n: int, k: int, avoid: set[int] = frozenset()) -> list[int]:  # type: ignore[assignment]
    return rng.sample([i for i in range(n) if i not in avoid], k)


def _byz(n: int, m: int, rng: random.Random, behaviour: str) -> dict[int, str]:
    return {i: behaviour for i in _pick(rng, n, 1)}


Builder = Callable[[int, int, random.Random], Faults]


def _down(n: int, m: int, rng: random.Random) -> Faults:
    return Faults(loss=0.1, permanently_down=set(_pick(rng, n, n - m)))


def _double_vote(n: int, m: int, rng: random.Random) -> Faults:
    if max_faulty(n, m) >= 1:  # safety needs 2M - N > f
        return Faults(byzantine=_byz(n, m, rng, "double-vote"), loss=0.1, crash_rate=0.2,
                      down_for=(0.1, 1.0))
    return Faults(byzantine=_byz(n, m, rng, "garbage-sig"), loss=0.1, forger=True)


def _everything(n: int, m: int, rng: random.Random) -> Faults:
    behaviour = rng.choice(["equivocate", "invalid", "short-pol", "forged-pol"]
                           + (["double-vote"] if max_faulty(n, m) >= 1 else []))
    byz = _byz(n, m, rng, behaviour)
    down = set(_pick(rng, n, rng.randrange(n - m), avoid=set(byz)))
    return Faults(loss=0.2, duplicate=0.1, delay=(0.001, 0.05), crash_rate=0.3, down_for=(0.1, 1.0),
                  partition_rate=0.3, partition_for=(0.2, 1.0), node_fail=0.1,
                  node_delay=(0.0005, 0.05), skew=0.05, byzantine=byz, permanently_down=down,
                  forger=True, replay=True)


def _stay_down(n: int, m: int, rng: random.Random) -> Faults:
    """Up to N - M members take part, then crash at a chosen point and stay down."""
    who = _pick(rng, n, rng.randrange(1, n - m + 1))
    points = {i: (rng.choice(CRASH_POINTS), None, rng.randrange(1, 4)) for i in who}
    return Faults(loss=0.1, crash_points=points)


def _crash_points(n: int, m: int, rng: random.Random) -> Faults:
    """Members crash at chosen points and come back, some while their node is still
    importing (its tip two, then one block behind); one may stay down for good."""
    points: dict[int, tuple[str, float | None, int]] = {
        i: (rng.choice(CRASH_POINTS), rng.uniform(0.05, 0.8), rng.randrange(1, 5))
        for i in _pick(rng, n, rng.randrange(1, n + 1))
    }
    if rng.random() < 0.3 and n - m >= 1:
        gone = rng.choice(sorted(points))
        points[gone] = (points[gone][0], None, points[gone][2])
    lag = {i: [2] * rng.randrange(1, 5) + [1] * rng.randrange(1, 5)
           for i in points if rng.random() < 0.5}
    return Faults(loss=0.05, crash_points=points, restart_lag=lag, filter_own=rng.random() < 0.5)


FAULT_SETS: dict[str, Builder] = {
    "clean": lambda n, m, rng: Faults(),
    "loss": lambda n, m, rng: Faults(loss=0.3, duplicate=0.15, delay=(0.001, 0.08)),
    "crash": lambda n, m, rng: Faults(crash_rate=0.6, down_for=(0.1, 1.0)),
    "partition": lambda n, m, rng: Faults(partition_rate=0.8, partition_for=(0.2, 1.0)),
    "node": lambda n, m, rng: Faults(node_fail=0.25, node_delay=(0.001, 0.15)),
    "skew": lambda n, m, rng: Faults(skew=0.1, delay=(0.001, 0.05)),
    "down": _down,
    "blackout": lambda n, m, rng: Faults(drop_kinds=frozenset({"precommit", "sig"}), loss=0.1),
    "mixed": lambda n, m, rng: Faults(loss=0.2, duplicate=0.1, crash_rate=0.3, down_for=(0.1, 1.0),
                                      partition_rate=0.3, partition_for=(0.2, 1.0), node_fail=0.1,
                                      skew=0.05),
    "equivocate": lambda n, m, rng: Faults(byzantine=_byz(n, m, rng, "equivocate"), loss=0.1),
    "invalid": lambda n, m, rng: Faults(byzantine=_byz(n, m, rng, "invalid"), forger=True),
    "short-pol": lambda n, m, rng: Faults(byzantine=_byz(n, m, rng, "short-pol"), loss=0.1),
    "forged-pol": lambda n, m, rng: Faults(byzantine=_byz(n, m, rng, "forged-pol"), loss=0.1),
    "double-vote": _double_vote,
    "replay": lambda n, m, rng: Faults(replay=True, forger=True, loss=0.1, crash_rate=0.2,
                                       down_for=(0.1, 1.0)),
    "everything": _everything,
    "stay-down": _stay_down,
    "crash-points": _crash_points,
}


def faults_for(name: str, n: int, m: int, seed: int) -> Faults:
    faults = FAULT_SETS[name](n, m, random.Random(seed * 7919 + n * 31 + m))
    faults.settle_at = SETTLE_AT
    return faults


def replay_hint(name: str, n: int, m: int, seed: int) -> str:
    return f"replay: python tests/sim/scenarios.py {name} {m}-of-{n} {seed}"


def run_schedule(name: str, n: int, m: int, seed: int, window: float = WINDOW) -> Outcome:
    """Run one schedule; raise InvariantViolation (with the replay command) on any failure."""
    sim = Simulation(seed, n, m, faults_for(name, n, m, seed))
    try:
        out = sim.run(SETTLE_AT + window, liveness_bound=LIVENESS_BOUND)
        if sim.quiet_from + LIVENESS_BOUND > SETTLE_AT + window:
            # a crash point's member came back late (or crashed for good late): give the
            # others the same time after that as after settling
            out = sim.run(sim.quiet_from + LIVENESS_BOUND + 0.5, liveness_bound=LIVENESS_BOUND)
        if sim.liveness_expected() and out.settle_to_block is None:
            sim._fail("no block after the network settled")
    except InvariantViolation as exc:
        raise InvariantViolation(f"{name} {m}-of-{n} {exc} -- {replay_hint(name, n, m, seed)}") from None
    return out


@dataclass
class Batch:
    """The summary of many schedules of one fault set and shape."""

    name: str
    n: int
    m: int
    schedules: int = 0
    steps: int = 0
    blocks: int = 0
    crashes: int = 0
    max_gap: float = 0.0
    failures: list[str] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def run_batch(name: str, n: int, m: int, seeds: Iterable[int], window: float = WINDOW) -> Batch:
    """Run one schedule per seed and summarise; failures are collected, not raised."""
    start = time.perf_counter()
    batch = Batch(name, n, m)
    for seed in seeds:
        batch.schedules += 1
        try:
            out = run_schedule(name, n, m, seed, window)
        except InvariantViolation as exc:
            batch.failures.append(str(exc))
            continue
        except Exception as exc:  # a crash of the core is a failure to report with its seed
            batch.failures.append(f"{name} {m}-of-{n} seed {seed}: {type(exc).__name__}: {exc} "
                                  f"-- {replay_hint(name, n, m, seed)}")
            continue
        batch.steps += out.steps
        batch.blocks += out.height
        batch.crashes += out.crashes
        batch.max_gap = max(batch.max_gap, out.max_gap)
        for k, v in out.dropped.items():
            batch.dropped[k] = batch.dropped.get(k, 0) + v
    batch.seconds = time.perf_counter() - start
    return batch


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of fresh interpreters with a fixed string-hash seed.

    The core iterates some sets of block hashes, so a schedule replays exactly only under
    the same ``PYTHONHASHSEED``; the pool and the replay command both use 0.
    """
    old = os.environ.get("PYTHONHASHSEED")
    os.environ["PYTHONHASHSEED"] = "0"
    try:
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))
        # start the workers now, while the variable is set
        list(pool.map(abs, range(workers)))
    finally:
        if old is None:
            del os.environ["PYTHONHASHSEED"]
        else:
            os.environ["PYTHONHASHSEED"] = old
    return pool


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Replay one simulator schedule.")
    parser.add_argument("faults", choices=sorted(FAULT_SETS))
    parser.add_argument("shape", help="M-of-N, e.g. 3-of-5")
    parser.add_argument("seed", type=int)
    parser.add_argument("--window", type=float, default=WINDOW)
    args = parser.parse_args(argv)
    if os.environ.get("PYTHONHASHSEED") != "0":  # replay under the hash seed the suite uses
        os.environ["PYTHONHASHSEED"] = "0"
        os.execv(sys.executable, [sys.executable, *sys.argv])
    m, n = (int(x) for x in args.shape.split("-of-"))
    start = time.perf_counter()
    try:
        out = run_schedule(args.faults, n, m, args.seed, args.window)
    except InvariantViolation as exc:
        print(f"FAIL {exc}")
        return 1
    print(f"ok {out} in {time.perf_counter() - start:.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
