"""One member's machine fed by hand: its own frames coming back, failed validations, and
what a dishonest member can make it keep (issue K, defects 1, 2 and 5).

The frames are sealed with the simulator's keyed-hash stand-in, so these run in
milliseconds; the rules they exercise are the real machine's.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from simulator import GENESIS, ROUNDS, SimAuth, make_block, make_challenge  # noqa: E402

from oceanfed.consensus import actions as A
from oceanfed.consensus import events as E
from oceanfed.consensus import machine as core
from oceanfed.consensus.counts import Kind, Tally
from oceanfed.consensus.machine import CoreConfig, Machine
from oceanfed.driver import Driver
from oceanfed.metrics import DriverCollector
from oceanfed.ocean.encoding import Reader
from oceanfed.ocean.header import BlockHeader

N, M = 4, 3
CHALLENGE = make_challenge(M, N)


def block_hash(block_hex: str) -> str:
    return BlockHeader.read(Reader(bytes.fromhex(block_hex))).hash_hex()


class Member:
    """A machine for member ``me`` at height 1, with every action it returned kept."""

    def __init__(self, me: int = 0, restored: dict[str, Any] | None = None):
        cfg = CoreConfig(me=me, names=[f"m{i}" for i in range(N)], threshold=M, challenge=CHALLENGE,
                         block_time=0.0, **ROUNDS)  # type: ignore[arg-type]
        self.me = me
        self.machine = Machine(cfg, SimAuth(me, N), restored=restored)
        self.now = 0.0
        self.out: list[A.Action] = list(self.machine.start(self.now))
        self.feed(E.NodeTip(0, GENESIS))

    def feed(self, event: E.Event, dt: float = 0.001) -> list[A.Action]:
        self.now += dt
        actions = self.machine.handle(event, self.now)
        self.out += actions
        return actions

    def receive(self, sender: int, round: int, kind: str, payload: dict[str, Any], height: int = 1) -> list[A.Action]:
        return self.feed(E.Received(SimAuth(sender, N).seal(height, round, kind, payload)))

    def tick_until(self, t: float) -> None:
        while self.now < t:
            self.feed(E.Tick(), dt=0.05)

    def sent(self, kind: str) -> list[tuple[int, Any]]:
        """(round, value) of every frame of ``kind`` this member broadcast as its own."""
        auth = SimAuth(self.me, N)
        found = []
        for action in self.out:
            if isinstance(action, A.Broadcast):
                env = auth.open(action.data)
                if env.kind == kind and env.sender == self.me:
                    value = env.payload.get("hash") if kind != "proposal" else block_hash(env.payload["block"])
                    found.append((env.round, value))
        return found

    def validations(self) -> list[A.Validate]:
        return [a for a in self.out if isinstance(a, A.Validate)]

    def last_record(self) -> dict[str, Any]:
        return [a for a in self.out if isinstance(a, A.Persist)][-1].record


def proposal(height: int = 1, salt: int = 0, parent: str = GENESIS) -> dict[str, Any]:
    return {"block": make_block(height, parent, CHALLENGE, salt=salt), "vr": -1, "pol": []}


# ---------------------------------------------------------------- defect 1: own frames back


def test_own_prevote_learnt_back_is_never_contradicted() -> None:
    """A member that lost its state hears its own prevote for X gossiped back: it takes it as
    sent, and its propose timeout does not make it prevote nil in that round."""
    member = Member(0)
    x = "ab" * 32
    member.receive(0, 0, "prevote", {"hash": x})
    member.tick_until(2.0)
    assert {v for r, v in member.sent("prevote") if r == 0} <= {x}
    assert [0, "prevote", x] in member.last_record()["height_state"]["sent"]
    assert member.machine.counters[Tally(Kind.OWN_VOTE_LEARNT)] == 1


def test_own_precommit_learnt_back_restores_the_lock() -> None:
    member = Member(0)
    p = proposal(salt=1)
    member.receive(member.machine.proposer(1, 0), 0, "proposal", p)
    b = block_hash(p["block"])
    member.receive(0, 0, "precommit", {"hash": b})
    assert member.machine.h is not None and member.machine.h.locked == (b, 0)
    assert member.last_record()["height_state"]["locked"] == [b, 0]
    assert {v for r, v in member.sent("precommit") if r == 0} <= {b}


def test_own_sig_learnt_back_binds_the_sign_state() -> None:
    """Its own SIG for B coming back means it signed B: its sign-state takes B (persisted)."""
    member = Member(0)
    p = proposal(salt=2)
    member.receive(member.machine.proposer(1, 0), 0, "proposal", p)
    b = block_hash(p["block"])
    digest = BlockHeader.read(Reader(bytes.fromhex(p["block"]))).digest()
    der = SimAuth(0, N).block_sig(0, digest)
    member.receive(0, 0, "sig", {"hash": b, "sig": der.hex()})
    assert (member.machine.sign_state.height, member.machine.sign_state.block_hash) == (1, b)
    assert member.last_record()["sign_state"]["block_hash"] == b


def test_restarted_proposer_learns_its_proposal_and_proposes_no_other() -> None:
    """The proposer of (1, 0) lost its state; its own proposal comes back before it builds:
    it must never propose another block in that round."""
    me = 1  # proposer of height 1, round 0
    member = Member(me)
    p = proposal(salt=3)
    member.receive(me, 0, "proposal", p)
    # the node answers the build it asked for when it started: too late, it proposed already
    member.feed(E.ProposalBuilt(1, 0, make_block(1, GENESIS, CHALLENGE, salt=33)))
    member.tick_until(3.0)
    assert {v for r, v in member.sent("proposal") if r == 0} <= {block_hash(p["block"])}
    assert member.last_record()["height_state"]["proposed"][0][:2] == [0, block_hash(p["block"])]


def test_proposal_is_persisted_before_it_is_broadcast_and_proposed_again_after_restart() -> None:
    me = 1
    member = Member(me)
    member.tick_until(0.01)
    build = next(a for a in member.out if isinstance(a, A.BuildProposal))
    block = make_block(1, GENESIS, CHALLENGE, salt=4)
    actions = member.feed(E.ProposalBuilt(build.height, build.round, block))
    kinds = [type(a).__name__ for a in actions if isinstance(a, A.Persist | A.Broadcast)]
    assert kinds[:2] == ["Persist", "Broadcast"]
    record = [a for a in actions if isinstance(a, A.Persist)][0].record
    assert record["height_state"]["proposed"] == [[0, block_hash(block), -1]]
    again = Member(me, restored=record)
    again.tick_until(1.0)
    assert not [a for a in again.out if isinstance(a, A.BuildProposal) and a.round == 0]
    assert {v for r, v in again.sent("proposal") if r == 0} == {block_hash(block)}


# ---------------------------------------------------------------- defect 2: retry, not a verdict


def test_failed_validation_is_retried_with_capped_backoff_and_counted() -> None:
    member = Member(0)
    member.receive(member.machine.proposer(1, 0), 0, "proposal", proposal(salt=5))
    times = [member.now]
    for _ in range(5):
        before = len(member.validations())
        member.feed(E.NodeFailed("validate", 1, "Loading block index... (code -28)"))
        failed_at = member.now
        while len(member.validations()) == before:
            member.feed(E.Tick(), dt=0.01)
            assert member.now < failed_at + 10
        times.append(member.now - failed_at)
    delays = [round(t, 1) for t in times[1:]]
    assert delays == [0.5, 1.0, 2.0, 2.0, 2.0]
    assert member.machine.h is not None and not member.machine.h.validity  # never a verdict
    assert member.machine.counters[Tally(Kind.NODE_FAILED, "validate")] == 5
    v = member.validations()[-1]
    member.feed(E.Validated(v.height, v.block_hash, None))
    assert member.machine.h.validity[v.block_hash] == core.VALID


def test_node_failures_are_visible_in_metrics() -> None:
    member = Member(0)
    member.feed(E.NodeFailed("validate", 1, "warming up"))

    class Quiet:
        @staticmethod
        def stats() -> dict[str, int]:
            return {}

    driver = Driver(member.machine, node=None, signer=None, messenger=Quiet(), store=None)  # type: ignore[arg-type]
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in DriverCollector(driver).collect() for s in family.samples}
    assert samples[("oceanfed_node_failures_total", (("call", "validate"),))] == 1


# ---------------------------------------------------------------- defect 5: bounded work


def test_proposals_for_far_rounds_are_not_validated() -> None:
    """One dishonest member proposes for every round it is proposer of, far ahead."""
    member = Member(0)
    rounds = [r for r in range(1200) if member.machine.proposer(1, r) == 2]
    for r in rounds:
        member.receive(2, r, "proposal", proposal(salt=100 + r))
    assert len(member.validations()) <= core.PROPOSAL_ROUND_WINDOW + 1
    near = [r for r in rounds if r <= core.PROPOSAL_ROUND_WINDOW]
    assert member.machine.counters[Tally(Kind.DROPPED, "proposal-far-round")] == len(rounds) - len(near)


def test_one_proposal_per_round_unless_m_members_voted_for_another() -> None:
    member = Member(0)
    proposer = member.machine.proposer(1, 0)
    blocks = [proposal(salt=1000 + i) for i in range(200)]
    for p in blocks:
        member.receive(proposer, 0, "proposal", p)
    assert len(member.validations()) == 1
    assert member.machine.counters[Tally(Kind.DROPPED, "second-proposal")] == 199
    # M prevotes for another block of that round: it may be decided, so it is learnt
    wanted = block_hash(blocks[7]["block"])
    for i in (1, 2, 3):
        member.receive(i, 0, "prevote", {"hash": wanted})
    member.receive(proposer, 0, "proposal", blocks[7])
    assert member.machine.h is not None and wanted in member.machine.h.blocks


def test_unverified_sigs_are_one_per_sender() -> None:
    member = Member(0)
    for i in range(2000):
        member.receive(2, 0, "sig", {"hash": f"{i:064x}", "sig": "30" + "ab" * 32})
    h = member.machine.h
    assert h is not None
    assert sum(len(p) for p in h.signatures.unverified.values()) <= 1
    assert member.machine.counters[Tally(Kind.DROPPED, "sig-replaced")] == 1999


def test_votes_are_bounded_in_rounds_and_values() -> None:
    member = Member(0)
    for r in range(500):
        member.receive(2, r, "prevote", {"hash": None})
    for i in range(500):
        member.receive(3, 0, "precommit", {"hash": f"{i:064x}"})
    h = member.machine.h
    assert h is not None
    assert max(h.vote_rounds("prevote")) <= core.VOTE_ROUND_WINDOW
    assert h.peer_round[2] == 499  # still noted for the round skip
    held = sum(1 for senders in h.votes[("precommit", 0)].frames.values() if 3 in senders)
    assert held == core.VOTE_VALUES_PER_SENDER
    assert member.machine.counters[Tally(Kind.DROPPED, "vote-far-round")] == 500 - core.VOTE_ROUND_WINDOW - 1
    assert member.machine.counters[Tally(Kind.DROPPED, "vote-values")] == 500 - core.VOTE_VALUES_PER_SENDER


@pytest.mark.parametrize(("count", "size"), [(2000, 10), (40, 1024 * 1024)])
def test_future_heights_buffer_is_bounded_per_peer_in_frames_and_bytes(count: int, size: int) -> None:
    member = Member(0)
    for i in range(count):
        member.receive(2, i, "prevote", {"hash": None, "pad": "x" * size}, height=5)
    member.receive(3, 0, "prevote", {"hash": None}, height=5)  # another peer still has room
    future = member.machine._future
    mine = [env for env in future if env.sender == 2]
    assert len(mine) <= core.FUTURE_FRAMES_PER_PEER
    assert sum(len(env.raw) for env in mine) <= core.FUTURE_BYTES_PER_PEER
    assert any(env.sender == 3 for env in future)
    assert member.machine.counters[Tally(Kind.DROPPED, "future-full")] == count - len(mine)


# ---------------------------------------------------------------- defect 4: node behind at restart


def test_restart_while_the_node_is_behind_waits_without_voting_or_spinning() -> None:
    """Saved at height 3 (locked, voted); the node says tip 1, then 2: nothing is proposed or
    voted at height 2, the saved record stays on disk, and height 3 resumes with the lock."""
    b = make_block(3, "cd" * 32, CHALLENGE, salt=7)
    saved = {"height": 3, "parent": "cd" * 32, "round": 1, "locked": [block_hash(b), 1],
             "valid": [block_hash(b), 1], "decided": None, "blocks": {block_hash(b): b},
             "extras": {}, "sent": [[1, "prevote", block_hash(b)], [1, "precommit", block_hash(b)]],
             "evidence": [], "proposals": {}}
    restored = {"sign_state": {"height": 2, "block_hash": "cd" * 32, "parent": "ef" * 32},
                "height_state": saved}
    cfg = CoreConfig(me=2, names=[f"m{i}" for i in range(N)], threshold=M, challenge=CHALLENGE,
                     block_time=0.0, **ROUNDS)  # type: ignore[arg-type]
    machine = Machine(cfg, SimAuth(2, N), restored=restored)
    out = machine.start(0.0)
    out += machine.handle(E.NodeTip(1, "ef" * 32), 0.01)
    assert machine.h is not None and machine.h.height == 2
    now = 0.01
    for _ in range(20):  # it waits: no busy loop, nothing proposed or voted below height 3
        now = max(now + 0.001, machine.next_deadline())
        out += machine.handle(E.Tick(), now)
        if any(isinstance(a, A.QueryTip) for a in out[-3:]):
            out += machine.handle(E.NodeTip(1, "ef" * 32), now)
    assert now > 2.0
    assert not [a for a in out if isinstance(a, A.Broadcast | A.BuildProposal | A.Sign)]
    assert all(a.record["height_state"] == saved for a in out if isinstance(a, A.Persist))
    machine.handle(E.NodeTip(2, "cd" * 32), now + 0.1)
    assert machine.h.height == 3 and machine.h.round == 1
    assert machine.h.locked == (block_hash(b), 1)
    assert machine.h.sent[(1, "prevote")] == block_hash(b)
