"""Frames that can change nothing are dropped before their signature is checked, and counted:
a vote for a block that already has M votes of its kind in a round not above ours, a
precommit for the decided block once it can be completed, a SIG for a block that can be.
Everything else is checked as before: a frame of one of those with a bad signature is
refused as such if it could matter.

m0 of 3-of-5 at height 1; the round-0 proposer is m1 (m0 submits a completed block after
the grace: it is neither that round's proposer nor the next height's first).
"""

from __future__ import annotations

from oceanfed import crypto
from oceanfed.consensus import events as E
from oceanfed.consensus.counts import Kind, Tally
from oceanfed.consensus.machine import PRECOMMIT, PREVOTE, SUBMIT_GRACE
from testsupport.member import Member


def _forged(frame: bytes) -> bytes:
    """The frame with its signature's last byte changed: it does not verify."""
    return frame[:-1] + bytes([frame[-1] ^ 1])


def _drops(mb: Member, reason: str) -> int:
    return mb.machine.counters[Tally(Kind.DROPPED, reason)]


def _submits_after_grace(mb: Member, actions: list[tuple[object, ...]], block_hash: str) -> bool:
    """``actions`` completed the block: nothing now, its submission once the grace is over."""
    return actions == [] and mb.handle(E.Tick(), SUBMIT_GRACE) == [("Submit", block_hash)]


def _polka() -> tuple[Member, object]:
    mb = Member(n=5, m=3, me=0)
    b = mb.block(1)
    mb.prevoted(0, b)
    mb.receive(mb.vote(1, 0, "prevote", b), mb.vote(2, 0, "prevote", b))
    h = mb.machine.h
    assert h is not None and h.locked == (b.block_hash, 0)
    return mb, b


def test_a_vote_for_a_block_with_m_votes_is_dropped_unread() -> None:
    mb, b = _polka()
    h = mb.machine.h
    assert h is not None
    # a forged prevote for the block is not even checked: it could change nothing
    assert mb.receive(_forged(mb.vote(3, 0, "prevote", b))) == []
    assert _drops(mb, "settled-vote") == 1 and _drops(mb, "bad-signature") == 0
    assert mb.receive(mb.vote(4, 0, "prevote", b)) == []
    assert _drops(mb, "settled-vote") == 2
    assert h.votes_of(PREVOTE, 0).support(b.block_hash) == 3
    # a vote for another value may matter: it is checked
    assert mb.receive(_forged(mb.vote(3, 0, "prevote", None))) == []
    assert _drops(mb, "bad-signature") == 1


def test_an_equivocating_vote_is_checked_and_counted() -> None:
    mb = Member(n=5, m=3, me=0)
    b = mb.block(1)
    mb.prevoted(0, b)
    mb.receive(mb.vote(3, 0, "prevote", None))
    mb.receive(mb.vote(1, 0, "prevote", b), mb.vote(2, 0, "prevote", b))
    # m3 voted nil first: its vote for the block is evidence of equivocation, not settled
    mb.receive(mb.vote(3, 0, "prevote", b))
    assert mb.machine.counters[Tally(Kind.EQUIVOCATION, "prevote")] == 1
    assert _drops(mb, "settled-vote") == 0


def test_a_vote_of_a_later_round_is_never_settled() -> None:
    mb, b = _polka()
    h = mb.machine.h
    assert h is not None
    mb.receive(mb.vote(1, 0, "precommit", b), mb.vote(2, 0, "precommit", b))
    assert h.decided == b.block_hash  # decided: no round skip, we stay in round 0
    for i in (1, 2, 3):
        mb.receive(mb.vote(i, 1, "prevote", b))
    assert h.round == 0 and h.votes_of(PREVOTE, 1).support(b.block_hash) == 3
    # round 1 is above ours: its votes are checked (the senders' rounds count for the skip)
    mb.receive(_forged(mb.vote(4, 1, "prevote", b)))
    assert _drops(mb, "settled-vote") == 0 and _drops(mb, "bad-signature") == 1


def test_precommits_are_evidence_until_the_decision_is_signed() -> None:
    mb, b = _polka()
    h = mb.machine.h
    assert h is not None
    mb.receive(mb.vote(1, 0, "precommit", b), mb.vote(2, 0, "precommit", b))
    assert h.decided == b.block_hash
    mb.receive(mb.vote(3, 0, "precommit", b))
    assert h.votes_of(PRECOMMIT, 0).support(b.block_hash) == 4 and _drops(mb, "settled-vote") == 0
    own = crypto.sign_digest(mb.block_keys[0], b.digest)
    assert [a[0] for a in mb.handle(E.Signed(1, b.block_hash, own))] == ["Broadcast"]
    assert mb.receive(_forged(mb.vote(4, 0, "precommit", b))) == []
    assert _drops(mb, "settled-vote") == 1 and _drops(mb, "bad-signature") == 0


def test_precommits_are_settled_once_the_decision_can_be_completed() -> None:
    mb, b = _polka()
    mb.receive(mb.vote(1, 0, "precommit", b), mb.vote(2, 0, "precommit", b))
    # our signer has not answered, but M peers' SIGs are here: the block can be completed
    assert _submits_after_grace(mb, mb.receive(mb.sig(1, b), mb.sig(2, b), mb.sig(3, b)), b.block_hash)
    assert mb.receive(_forged(mb.vote(4, 0, "precommit", b))) == []
    assert _drops(mb, "settled-vote") == 1 and _drops(mb, "bad-signature") == 0


def test_a_sig_for_a_block_that_can_be_completed_is_dropped_unread() -> None:
    mb, b = _polka()
    h = mb.machine.h
    assert h is not None
    mb.receive(mb.vote(1, 0, "precommit", b), mb.vote(2, 0, "precommit", b))
    mb.handle(E.Signed(1, b.block_hash, crypto.sign_digest(mb.block_keys[0], b.digest)))
    mb.receive(mb.sig(1, b))
    # two verified signatures of three: the next one is checked
    mb.receive(_forged(mb.sig(3, b)))
    assert _drops(mb, "bad-signature") == 1
    assert _submits_after_grace(mb, mb.receive(mb.sig(2, b)), b.block_hash)
    assert mb.receive(_forged(mb.sig(3, b)), mb.sig(4, b)) == []
    assert _drops(mb, "settled-sig") == 2 and _drops(mb, "bad-signature") == 1
    assert sorted(h.signatures.verified[b.block_hash]) == [0, 1, 2]


def test_our_own_frames_are_never_settled() -> None:
    mb, b = _polka()
    h = mb.machine.h
    assert h is not None
    h.sent.clear()  # as if our record of it were lost: our prevote coming back is news
    mb.receive(h.sent_frames[(0, PREVOTE)])
    assert _drops(mb, "settled-vote") == 0
    assert mb.machine.counters[Tally(Kind.OWN_VOTE_LEARNT)] == 1


def test_precommits_for_a_block_not_decided_here_are_checked() -> None:
    mb = Member(n=5, m=3, me=0)
    b = mb.block(1)
    assert mb.receive(mb.proposal(0, b)) == [("Validate", b.block_hash)]
    # no verdict yet: M precommits and M SIGs for the block, but it is not decided here
    mb.receive(*(mb.vote(i, 0, "precommit", b) for i in (1, 2, 3)))
    assert _submits_after_grace(mb, mb.receive(mb.sig(1, b), mb.sig(2, b), mb.sig(3, b)), b.block_hash)
    h = mb.machine.h
    assert h is not None and h.decided is None
    mb.receive(_forged(mb.vote(4, 0, "precommit", b)))
    assert _drops(mb, "settled-vote") == 0 and _drops(mb, "bad-signature") == 1
