"""The named scenarios of docs/protocol.md, the split-brain demonstration, and replayability."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import named  # noqa: E402
from scenarios import SHAPES, max_faulty, run_batch  # noqa: E402

from oceanfed.config import load_config
from oceanfed.member import check_split_brain
from oceanfed_devnet.setup import create_devnet

SEEDS = 30


def _all(pool: ProcessPoolExecutor, fn: Any, *args: Any, seeds: int = SEEDS, **kwargs: Any) -> list[Any]:
    futures = [pool.submit(fn, seed, *args, **kwargs) for seed in range(seeds)]
    return [f.result() for f in futures]


def test_wedge_completes(sim_pool: ProcessPoolExecutor) -> None:
    results = _all(sim_pool, named.wedge)
    # the precondition of the wedge happened: each half saw its own proposal at height 1
    assert sum(r["proposed_at_1"] >= 2 for r in results) >= SEEDS // 2
    assert all(r["height"] >= 2 for r in results)
    print(f"\nwedge: {SEEDS} seeds, heights {min(r['height'] for r in results)}.."
          f"{max(r['height'] for r in results)}, crashes {sum(r['crashes'] for r in results)}")


@pytest.mark.parametrize("kinds", [("sig",), ("precommit",), ("prevote", "sig"), ("precommit", "sig")])
def test_lost_votes_and_sigs_are_regossiped(sim_pool: ProcessPoolExecutor, kinds: tuple[str, ...]) -> None:
    results = _all(sim_pool, named.gossip_recovery, kinds)
    if kinds == ("sig",):
        # everyone had decided and signed height 1 before the network settled
        assert all(r["signed_before"].get(1) == 1 for r in results)
    worst = max(r["first_block_after_settle"] for r in results)
    assert worst < 1.0, f"gossip took {worst:.2f}s to complete the first block"


@pytest.mark.parametrize(("n", "m", "member"), [(4, 3, 0), (4, 3, 1), (3, 2, 2), (5, 4, 1)])
def test_crash_before_every_action(sim_pool: ProcessPoolExecutor, n: int, m: int, member: int) -> None:
    result = sim_pool.submit(named.crash_sweep, n, m, member).result()
    hits = {tuple(h) for h in result["hits"]}
    nexts = {b for _, b in hits}
    lasts = {a for a, _ in hits}
    print(f"\ncrash sweep {m}-of-{n} m{member}: {result['points']} crash points")
    assert result["points"] > 50
    assert "Sign" in nexts  # sign-state on disk, the signature not yet made
    assert "Sign" in lasts  # signature requested, not yet broadcast (lost with the process)
    assert "Broadcast:sig" in nexts  # signature made, not yet sent
    assert any(a.startswith("Persist") and b.startswith("Broadcast") for a, b in hits)


@pytest.mark.parametrize("behaviour", ["equivocate", "invalid", "short-pol", "forged-pol"])
def test_dishonest_proposer(sim_pool: ProcessPoolExecutor, behaviour: str) -> None:
    results = _all(sim_pool, named.dishonest, 4, 3, behaviour, 1, loss=0.1)
    assert all(r["height"] >= 3 for r in results)
    counters: dict[str, int] = {}
    for r in results:
        for k, v in r["counters"].items():
            counters[k] = counters.get(k, 0) + v
    if behaviour == "equivocate":
        assert counters.get("equivocation:proposal", 0) > 0
    if behaviour == "invalid":
        assert any(k.startswith("proposal_rejected:") for k in counters)
    if behaviour == "forged-pol":
        assert counters.get("dropped:bad-pol", 0) > 0
    assert counters.get("signatures_rejected:invalid", 0) > 0  # garbage and stolen signatures


@pytest.mark.parametrize(("n", "m"), [s for s in SHAPES if max_faulty(*s) >= 1])
def test_most_dishonest_voters_tolerated(sim_pool: ProcessPoolExecutor, n: int, m: int) -> None:
    """2M - N - 1 members vote for every block and sign all of them: still no fork."""
    f = max_faulty(n, m)
    seeds = 4 if n > 10 else SEEDS
    results = _all(sim_pool, named.dishonest, n, m, "double-vote", f, seeds=seeds, loss=0.1,
                   crash_rate=0.3, down_for=(0.1, 0.5))
    for r in results:
        if r["live"]:
            assert r["height"] >= 2
    print(f"\n{m}-of-{n} with {f} double voters: heights {[r['height'] for r in results][:10]}...")


@pytest.mark.parametrize(("n", "m"), SHAPES)
def test_members_down_for_good(sim_pool: ProcessPoolExecutor, n: int, m: int) -> None:
    """N - M members never start; loss and crashes of the rest before settling."""
    seeds = range(4) if n > 10 else range(40)
    batch = sim_pool.submit(run_batch, "down", n, m, seeds).result()
    assert not batch.failures, batch.failures[:5]
    assert batch.blocks > len(seeds)


def test_outsiders_are_dropped_and_counted(sim_pool: ProcessPoolExecutor) -> None:
    results = _all(sim_pool, named.outsiders, seeds=10)
    dropped: dict[str, int] = {}
    for r in results:
        assert r["height"] >= 3
        for k, v in r["dropped"].items():
            dropped[k] = dropped.get(k, 0) + v
    for reason in ("non-member", "bad-signature", "malformed", "stale", "duplicate"):
        assert dropped.get(reason, 0) > 0, (reason, dropped)


@pytest.mark.parametrize("filter_own", [False, True], ids=["own-frames-echoed", "own-frames-filtered"])
@pytest.mark.parametrize(("n", "m"), [(5, 4), (3, 2)])
def test_proposer_restarting_after_its_proposal_completes_its_block(
        sim_pool: ProcessPoolExecutor, n: int, m: int, filter_own: bool) -> None:
    """Issue K defect 1: the proposer crashes right after its proposal, restarts 1 s later; a
    member that decided dies for good before signing. With or without its own frames given
    back by the messenger, the proposer proposes nothing else and signs its block."""
    results = _all(sim_pool, named.own_block_after_restart, n, m, filter_own, seeds=10)
    assert all(r["height"] >= 2 for r in results)


@pytest.mark.parametrize("back", [None, 1.0], ids=["down-for-good", "restarting"])
def test_submitters_crashing_after_combining_do_not_stop_the_block(
        sim_pool: ProcessPoolExecutor, back: float | None) -> None:
    """The members that submit at once crash right after combining: the block still lands,
    submitted by the others after the grace."""
    results = _all(sim_pool, named.submitters_crash_after_combining, back, seeds=10)
    assert all(r["height"] >= 3 and r["first_submitters"] for r in results)


def test_most_members_never_submit_a_block_that_landed(sim_pool: ProcessPoolExecutor) -> None:
    """With no faults and block_time = 0, a height's block is submitted by at most its two
    submitters (the others see it at their node's tip first), not by all five members."""
    results = _all(sim_pool, named.submits_per_height, 5, 3, seeds=5)
    submits = [k for r in results for k in r["submits"]]
    assert len(submits) > 50 and max(submits) <= 2, submits
    print(f"\nsubmits per height: {sum(submits) / len(submits):.2f} over {len(submits)} heights")


def test_node_warming_up_is_retried_not_a_verdict(sim_pool: ProcessPoolExecutor) -> None:
    """Issue K defect 2: one member's first testproposedblock answers -28; B completes."""
    results = _all(sim_pool, named.validate_warmup, seeds=10)
    assert all(r["failed"] >= 1 and not r["rejected"] and r["height"] >= 2 for r in results)


@pytest.mark.parametrize("point", ["prevoted", "precommitted", "decided"])
def test_restart_while_the_node_is_behind_keeps_votes_and_lock(
        sim_pool: ProcessPoolExecutor, point: str) -> None:
    """Issue K defect 4: restart while the node's tip is two, then one block behind."""
    results = _all(sim_pool, named.restart_behind, point, seeds=10)
    assert all(r["waited"] >= 1 and r["height"] > r["crashed_at"] for r in results)


def test_lost_height_record_with_sign_state_refuses_to_sign() -> None:
    """The sign-state guard is reached: M precommits for B' after signing B do not sign B'."""
    for seed in range(5):
        assert named.refuse_after_lost_height_state(seed)["refused"] >= 1


def test_crafted_schedule_needs_the_lock_rule(sim_pool: ProcessPoolExecutor) -> None:
    """Without the lock rule this schedule decides B at m0 and B' at the three others, which
    the decision check reports; with it, B completes."""
    results = _all(sim_pool, named.lock_rule, seeds=10)
    assert all(r["proposed_at_1"] >= 2 and r["height"] >= 2 for r in results)


def test_split_brain_when_threshold_is_not_a_majority(sim_pool: ProcessPoolExecutor) -> None:
    """M <= N/2 is NOT safe: in 2-of-4 two halves each complete a different block."""
    halves = [{0, 1}, {2, 3}]
    unsafe = _all(sim_pool, named.split_brain, 4, 2, halves, seeds=5)
    for r in unsafe:
        # caught at the first conflicting decision, or at the second completable block
        assert r["violation"] is not None and ("two" in r["violation"] or "decided" in r["violation"]), r
    # the same cut with a majority threshold: one side (or none) moves on, never both
    safe = _all(sim_pool, named.split_brain, 4, 3, [{0, 1, 2}, {3}], seeds=5)
    for r in safe:
        assert r["violation"] is None
        assert r["heights"][0] == 0 and r["heights"][-1] > 0


def test_run_refuses_split_brain_config(tmp_path: Path) -> None:
    layout = create_devnet(tmp_path / "net", 4, 2)
    fed = layout.fed_toml(layout.members[0])
    cfg = load_config(fed)
    warning = check_split_brain(cfg)
    assert warning is not None and "2 of 4" in warning
    proc = subprocess.run([sys.executable, "-m", "oceanfed.cli.main", "run", "--config", str(fed)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "allow_split_brain" in proc.stderr + proc.stdout
    majority = create_devnet(tmp_path / "ok", 4, 3)
    assert check_split_brain(load_config(majority.fed_toml(majority.members[0]))) is None


def test_a_seed_replays_exactly(sim_pool: ProcessPoolExecutor) -> None:
    a = sim_pool.submit(named.fingerprint, 7, "everything", 5, 3).result()
    b = sim_pool.submit(named.fingerprint, 7, "everything", 5, 3).result()
    c = sim_pool.submit(named.fingerprint, 8, "everything", 5, 3).result()
    assert a == b
    assert a != c


def test_replay_command_runs_one_schedule() -> None:
    script = Path(__file__).resolve().parent / "scenarios.py"
    proc = subprocess.run([sys.executable, str(script), "mixed", "3-of-4", "5"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("ok Outcome(seed=5")
