"""What the machine hands to observers: typed hook calls, typed counters, and a snapshot
other threads read instead of the machine itself."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from oceanfed import hookspecs
from oceanfed.consensus import actions as A
from oceanfed.consensus import events as E
from oceanfed.consensus.counts import Kind, Tally
from testsupport.member import Member

OBSERVATIONS = [A.ProposalReceived, A.ProposalAccepted, A.ProposalRejected, A.SignatureReceived,
                A.BlockSubmitted, A.RoundTimedOut]


@pytest.mark.parametrize("kind", OBSERVATIONS, ids=lambda k: k.hook)
def test_each_observation_matches_its_hook(kind: type[A.Observation]) -> None:
    spec = inspect.signature(getattr(hookspecs, hookspecs.PREFIX + kind.hook))
    assert [f.name for f in dataclasses.fields(kind)] == list(spec.parameters)


def test_observations_of_a_rejected_proposal() -> None:
    mb = Member(n=4, m=3, me=0)
    b = mb.block(1)
    mb.receive(mb.proposal(0, b))
    actions = mb.machine.handle(E.Validated(1, b.block_hash, "bad-txns"), mb.now)
    seen = [a for a in actions if isinstance(a, A.Observation)]
    assert seen == [A.ProposalRejected(1, 0, "m1", b.block_hash, "bad-txns")]
    assert seen[0].kwargs() == {"height": 1, "round": 0, "proposer": "m1",
                                "block_hash": b.block_hash, "reason": "bad-txns"}
    assert mb.machine.counters[Tally(Kind.PROPOSAL_REJECTED, "bad-txns")] == 1
    assert mb.machine.status()["counters"]["proposal_rejected:bad-txns"] == 1


def test_a_snapshot_is_a_copy_nothing_changes() -> None:
    mb = Member(n=4, m=3, me=0)
    b = mb.block(1)
    before = mb.machine.snapshot()
    mb.receive(mb.proposal(0, b), mb.vote(1, 0, "prevote", None))
    mb.handle(E.Validated(1, b.block_hash, None))
    after = mb.machine.snapshot()
    assert before.counters == {} and before.peer_seen == {}
    assert after.peer_seen.keys() == {1} and after.step == "prevote"
    with pytest.raises(TypeError):
        after.counters[Tally(Kind.DROPPED, "x")] = 1  # type: ignore[index]
    assert after.status() == mb.machine.status()
