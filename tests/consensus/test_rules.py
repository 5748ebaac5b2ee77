"""One scenario per rule of the consensus machine (ROUNDS.md), in the style of CometBFT's
``state_test.go``: one real :class:`Machine` (member m0 of 3-of-4 at height 1), the other
members' frames made by hand with their real keys, and the exact actions asserted after each
step, so that a failure names the rule that broke.

Proposers at height 1: round 0 m1, round 1 m2, round 2 m3, round 3 m0 (us).
"""

from __future__ import annotations

from typing import Any

import coincurve

from oceanfed import crypto, wire
from oceanfed.consensus import actions as A
from oceanfed.consensus import events as E
from oceanfed.consensus.blocks import BlockInfo
from oceanfed.consensus.counts import Kind, Tally
from oceanfed.consensus.machine import RETRY_DELAY, SUBMIT_GRACE, Timer
from oceanfed.ocean.header import BlockHeader
from oceanfed.ocean.proof import check_header_proof
from testsupport.member import CHAIN, GENESIS, Member


def _member() -> Member:
    mb = Member(n=4, m=3, me=0)
    assert [mb.proposer(r) for r in range(4)] == [1, 2, 3, 0]
    return mb


def test_lock_on_polka() -> None:
    """M prevotes for a valid block in our round: lock on it and precommit it, persisted first."""
    mb = _member()
    b = mb.block(1)
    assert mb.prevoted(0, b) == [("Persist", 0, None, None, None), ("Broadcast", "prevote", 0, b.block_hash)]
    # our prevote and one more are M - 1: no polka yet
    assert mb.receive(mb.vote(1, 0, "prevote", b)) == []
    assert mb.receive(mb.vote(2, 0, "prevote", b)) == [
        ("Persist", 0, (b.block_hash, 0), None, None),
        ("Broadcast", "precommit", 0, b.block_hash),
    ]


def test_polka_for_nil_precommits_nil() -> None:
    mb = _member()
    b = mb.block(1)
    mb.prevoted(0, b)
    assert mb.receive(mb.vote(1, 0, "prevote", None), mb.vote(2, 0, "prevote", None)) == []
    assert mb.receive(mb.vote(3, 0, "prevote", None)) == [
        ("Persist", 0, None, None, None), ("Broadcast", "precommit", 0, None),
    ]


def test_prevote_the_locked_block() -> None:
    """Locked on B from round 0, a fresh proposal of B in round 1 is prevoted at once."""
    mb = _member()
    b = mb.block(1)
    mb.locked_on(b)
    assert mb.next_round_by_nil(0) == []
    assert mb.machine.h is not None and mb.machine.h.round == 1
    assert mb.receive(mb.proposal(1, b)) == [
        ("Persist", 1, (b.block_hash, 0), None, None), ("Broadcast", "prevote", 1, b.block_hash),
    ]


def test_locked_member_prevotes_nil_on_another_block() -> None:
    """Locked on B, a fresh proposal of a valid B' is prevoted nil (the lock rule)."""
    mb = _member()
    b, b2 = mb.block(1), mb.block(2)
    mb.locked_on(b)
    mb.next_round_by_nil(0)
    assert mb.receive(mb.proposal(1, b2)) == [("Validate", b2.block_hash)]
    assert mb.handle(E.Validated(1, b2.block_hash, None)) == [
        ("Persist", 1, (b.block_hash, 0), None, None), ("Broadcast", "prevote", 1, None),
    ]


def test_unlock_on_a_later_polka() -> None:
    """Locked on B from round 0, M prevotes for B' in round 1 move the lock to (B', 1)."""
    mb = _member()
    b, b2 = mb.block(1), mb.block(2)
    mb.locked_on(b)
    mb.next_round_by_nil(0)
    mb.prevoted(1, b2)  # nil, locked on B
    assert mb.receive(mb.vote(1, 1, "prevote", b2), mb.vote(2, 1, "prevote", b2)) == []
    assert mb.receive(mb.vote(3, 1, "prevote", b2)) == [
        ("Persist", 1, (b2.block_hash, 1), None, None), ("Broadcast", "precommit", 1, b2.block_hash),
    ]


def _skip_round(mb: Member, round: int) -> None:
    mb.next_round_by_nil(round)
    assert mb.machine.h is not None and mb.machine.h.round == round + 1


def test_proof_of_lock_relock() -> None:
    """Locked on (B, 0); round 2 re-proposes B' with a proof of M prevotes from round 1:
    prevote it (locked round 0 <= 1), then lock on (B', 2) at its polka."""
    mb = _member()
    b, b2 = mb.block(1), mb.block(2)
    mb.locked_on(b)
    _skip_round(mb, 0)
    _skip_round(mb, 1)
    pol = [mb.vote(i, 1, "prevote", b2) for i in (1, 2, 3)]
    assert mb.receive(mb.proposal(2, b2, vr=1, pol=pol)) == [("Validate", b2.block_hash)]
    assert mb.handle(E.Validated(1, b2.block_hash, None)) == [
        ("Persist", 2, (b.block_hash, 0), None, None),
        ("Broadcast", "prevote", 2, b2.block_hash),
        ("Persist", 2, (b.block_hash, 0), None, None),  # valid = (B', 1), learnt from the pol
    ]
    assert mb.machine.h is not None and mb.machine.h.valid == (b2.block_hash, 1)
    assert mb.receive(mb.vote(1, 2, "prevote", b2), mb.vote(2, 2, "prevote", b2)) == [
        ("Persist", 2, (b2.block_hash, 2), None, None), ("Broadcast", "precommit", 2, b2.block_hash),
    ]


def test_reproposal_without_a_full_proof_of_lock_is_not_prevoted() -> None:
    """A re-proposal whose pol holds M - 1 prevotes waits; at the propose timeout: nil."""
    mb = _member()
    b2 = mb.block(2)
    _skip_round(mb, 0)
    _skip_round(mb, 1)
    pol = [mb.vote(i, 1, "prevote", b2) for i in (1, 2)]
    assert mb.receive(mb.proposal(2, b2, vr=1, pol=pol)) == [("Validate", b2.block_hash)]
    assert mb.handle(E.Validated(1, b2.block_hash, None)) == []
    assert mb.tick_at_deadline() == [("Persist", 2, None, None, None), ("Broadcast", "prevote", 2, None)]


def test_lock_from_a_later_round_beats_an_older_proof_of_lock() -> None:
    """Locked on (B, 1); a re-proposal of B' proved in round 0 is prevoted nil (1 > 0)."""
    mb = _member()
    b, b2 = mb.block(1), mb.block(2)
    _skip_round(mb, 0)
    mb.prevoted(1, b)
    mb.receive(mb.vote(1, 1, "prevote", b), mb.vote(3, 1, "prevote", b))
    assert mb.machine.h is not None and mb.machine.h.locked == (b.block_hash, 1)
    _skip_round(mb, 1)
    pol = [mb.vote(i, 0, "prevote", b2) for i in (1, 2, 3)]
    assert mb.receive(mb.proposal(2, b2, vr=0, pol=pol)) == [("Validate", b2.block_hash)]
    assert mb.handle(E.Validated(1, b2.block_hash, None)) == [
        ("Persist", 2, (b.block_hash, 1), None, None), ("Broadcast", "prevote", 2, None),
    ]


def test_decide_in_a_later_round() -> None:
    """Round 0 ends without a decision; M precommits for B' in round 1 decide it, and the
    decision and the sign-state are flushed together before the signature is asked for."""
    mb = _member()
    b, b2 = mb.block(1), mb.block(2)
    mb.locked_on(b)
    mb.next_round_by_nil(0)
    mb.prevoted(1, b2)
    mb.receive(*(mb.vote(i, 1, "prevote", b2) for i in (1, 2, 3)))
    # our precommit and one more are M - 1: not decided
    assert mb.receive(mb.vote(1, 1, "precommit", b2)) == []
    assert mb.receive(mb.vote(2, 1, "precommit", b2)) == [
        ("Persist", 1, (b2.block_hash, 1), b2.block_hash, b2.block_hash), ("Sign", b2.block_hash),
    ]


def test_decide_on_an_earlier_rounds_precommits() -> None:
    """M precommits for B in round 0, heard while in round 1, decide B."""
    mb = _member()
    b = mb.block(1)
    mb.locked_on(b)  # we precommitted B in round 0
    assert mb.receive(mb.vote(2, 1, "prevote", None), mb.vote(3, 1, "prevote", None)) == []
    assert mb.machine.h is not None and mb.machine.h.round == 1
    assert mb.receive(mb.vote(1, 0, "precommit", b)) == []
    assert mb.receive(mb.vote(2, 0, "precommit", b)) == [
        ("Persist", 1, (b.block_hash, 0), b.block_hash, b.block_hash), ("Sign", b.block_hash),
    ]


def test_round_skip_on_n_minus_m_plus_1_higher_round_members() -> None:
    """N - M + 1 = 2 members seen in round 3 (so one honest member is there): jump to it.
    One member alone moves nothing."""
    mb = _member()
    assert mb.receive(mb.vote(1, 3, "prevote", None)) == []
    assert mb.machine.h is not None and mb.machine.h.round == 0
    assert mb.receive(mb.vote(2, 3, "precommit", None)) == [("BuildProposal", 3)]  # we propose round 3
    assert mb.machine.h.round == 3


def test_decided_then_restart() -> None:
    """Decided and sign-state flushed, then the process dies before the signature: after the
    restart the member asks to sign the same block again, sends its SIG, and completes the
    block with M SIGs."""
    mb = _member()
    b = mb.block(1)
    mb.locked_on(b)
    assert mb.receive(mb.vote(1, 0, "precommit", b), mb.vote(2, 0, "precommit", b)) == [
        ("Persist", 0, (b.block_hash, 0), b.block_hash, b.block_hash), ("Sign", b.block_hash),
    ]
    # the restarted member re-sends its votes, checks the block again, and signs the same block
    assert mb.boot() == [
        ("Broadcast", "prevote", 0, b.block_hash),
        ("Broadcast", "precommit", 0, b.block_hash),
        ("Validate", b.block_hash),
        ("Sign", b.block_hash),
    ]
    own = crypto.sign_digest(mb.block_keys[0], b.digest)
    assert mb.handle(E.Signed(1, b.block_hash, own)) == [("Broadcast", "sig", 0, b.block_hash)]
    assert mb.receive(mb.sig(1, b), mb.sig(2, b)) == []  # m0 submits after the grace (below)
    mb.now += SUBMIT_GRACE
    actions = mb.machine.handle(E.Tick(), mb.now)
    submits = [a for a in actions if type(a).__name__ == "Submit"]
    assert len(submits) == 1 and submits[0].block_hash == b.block_hash
    header = BlockHeader.from_bytes(bytes.fromhex(submits[0].block_hex)[:-1])
    assert check_header_proof(header)


def test_restored_sign_state_refuses_a_second_block() -> None:
    """The sign-state guard: a member whose height record was lost but whose sign-state holds
    B is fed M precommits for B'. It records the decision and never asks to sign B'."""
    mb = Member(n=4, m=3, me=0, restored={
        "sign_state": {"height": 1, "block_hash": Member().block(1).block_hash, "parent": GENESIS},
    })
    b, b2 = mb.block(1), mb.block(2)
    mb.prevoted(0, b2)
    assert mb.receive(*(mb.vote(i, 0, "precommit", b2) for i in (1, 2))) == []
    assert mb.receive(mb.vote(3, 0, "precommit", b2)) == [
        ("Persist", 0, None, b2.block_hash, b.block_hash),
    ]
    assert mb.machine.counters[Tally(Kind.SIGN_REFUSED)] == 1
    assert mb.handle(E.Tick(), dt=10.0) == []
    assert mb.machine.sign_state.block_hash == b.block_hash


def test_own_proposal_learnt_back() -> None:
    """A proposer that lost its proposal (restarted while asking its node for a block) gets it
    back from a peer's gossip: it keeps it (persisted), checks and prevotes it, never proposes
    another block in that round, and signs it once M precommits decide it."""
    mb = Member(n=4, m=3, me=1)
    assert mb.started == [("BuildProposal", 0)]
    b = mb.block(1)
    assert mb.receive(mb.proposal(0, b)) == [("Persist", 0, None, None, None), ("Validate", b.block_hash)]
    assert mb.handle(E.Validated(1, b.block_hash, None)) == [
        ("Persist", 0, None, None, None), ("Broadcast", "prevote", 0, b.block_hash),
    ]
    assert mb.handle(E.ProposalBuilt(1, 0, mb.block(2).block_hex)) == []  # no second proposal
    assert mb.receive(*(mb.vote(i, 0, "precommit", b) for i in (0, 2, 3))) == [
        ("Persist", 0, None, b.block_hash, b.block_hash), ("Sign", b.block_hash),
    ]


def _completed(me: int) -> tuple[Member, BlockInfo, list[tuple[Any, ...]]]:
    """Member ``me`` of 3-of-4 decides B in round 0, signs it, and receives two more SIGs:
    the actions of the last SIG (the one that completes B)."""
    mb = Member(n=4, m=3, me=me)
    b = mb.block(1)
    if mb.proposer(0) == me:  # it proposes B, checks it and prevotes it
        mb.handle(E.ProposalBuilt(1, 0, b.block_hex))
        mb.handle(E.Validated(1, b.block_hash, None))
        mb.receive(*(mb.vote(i, 0, "prevote", b) for i in mb.others()[: mb.m - 1]))
    else:
        mb.locked_on(b)
    voters = [i for i in mb.others()][: mb.m - 1]
    assert mb.receive(*(mb.vote(i, 0, "precommit", b) for i in voters))[-1] == ("Sign", b.block_hash)
    mb.handle(E.Signed(1, b.block_hash, crypto.sign_digest(mb.block_keys[me], b.digest)))
    signers = [i for i in mb.others()][: mb.m - 1]
    assert mb.receive(mb.sig(signers[0], b)) == []
    return mb, b, mb.receive(mb.sig(signers[1], b))


def test_submitters_submit_a_completed_block_at_once() -> None:
    """The round's proposer (m1) and the next height's first proposer (m2) submit at once."""
    for me in (1, 2):
        mb, b, actions = _completed(me)
        assert (mb.machine.proposer(1, 0), mb.machine.proposer(2, 0)) == (1, 2)
        assert actions == [("Submit", b.block_hash)], me
        mb.handle(E.Submitted(1, b.block_hash, "duplicate"))
        assert mb.machine.h is not None and mb.machine.h.height == 2


def test_other_members_submit_only_if_the_block_has_not_landed_after_the_grace() -> None:
    """m0 and m3 hold M SIGs too: they wait SUBMIT_GRACE, then submit if the tip has not moved."""
    for me in (0, 3):
        mb, b, actions = _completed(me)
        assert actions == []
        assert mb.machine.next_deadline() == mb.now + SUBMIT_GRACE
        assert mb.handle(E.Tick(), SUBMIT_GRACE / 2) == []
        assert mb.tick_at_deadline() == [("Submit", b.block_hash)]


def test_a_failed_submit_is_sent_again_at_the_retry_not_at_once() -> None:
    """The same for a completed block whose submitblock failed: sent again once the retry
    is due, not by the same event's rule pass, and the deadline wakes the member for it."""
    mb, b, actions = _completed(1)
    assert actions == [("Submit", b.block_hash)]
    assert mb.handle(E.NodeFailed("submit", 1, "refused")) == []
    assert mb.handle(E.Tick(), dt=RETRY_DELAY / 2) == []
    assert mb.machine.next_deadline() == mb.now + RETRY_DELAY / 2
    assert mb.tick_at_deadline() == [("Submit", b.block_hash)]


def test_a_member_that_sees_its_completed_block_at_the_tip_submits_nothing() -> None:
    """A frame of the next height means the block landed: m0 looks at the tip at once, sees
    its completed block there, reports it accepted and moves on without submitting."""
    mb, b, _ = _completed(0)
    ahead = wire.encode(coincurve.PrivateKey(mb.transport[2]), CHAIN, 2, 2, 0, "prevote", {"hash": None})
    assert mb.receive(ahead) == [("QueryTip",)]
    actions = mb.machine.handle(E.NodeTip(1, b.block_hash), mb.now)
    assert [a for a in actions if isinstance(a, A.Submit)] == []
    assert [(a.height, a.result) for a in actions if isinstance(a, A.BlockSubmitted)] == [(1, "accepted")]
    assert mb.machine.h is not None and mb.machine.h.height == 2
    assert mb.machine.counters[Tally(Kind.BLOCKS_SUBMITTED)] == 1
    mb.now += 1.0
    assert [a for a in mb.machine.handle(E.Tick(), mb.now) if isinstance(a, A.Submit)] == []


def _poll_tip(mb: Member) -> list[tuple[Any, ...]]:
    """The tip poll falls due now (and nothing else): the member asks its node for the tip."""
    mb.machine.timers[Timer.TIP_POLL] = mb.now
    return mb.handle(E.Tick())


def test_a_block_the_node_lost_is_submitted_again() -> None:
    """The node accepted m1's completed block, then shows the tip below it (it lost the
    block: a restore, a crash before it was on its disk). m1 follows it: it takes the height
    up again with the block's M signatures and submits the same block, signing nothing."""
    mb, b, actions = _completed(1)
    assert actions == [("Submit", b.block_hash)]
    mb.handle(E.Submitted(1, b.block_hash, None))
    assert mb.machine.h is not None and mb.machine.h.height == 2
    assert _poll_tip(mb) == [("QueryTip",)]
    assert mb.handle(E.NodeTip(0, GENESIS)) == [("Submit", b.block_hash)]
    assert mb.machine.h.height == 1 and mb.machine.tip == (0, GENESIS)
    mb.handle(E.Submitted(1, b.block_hash, None))
    assert mb.machine.h.height == 2 and mb.machine.tip == (1, b.block_hash)
    assert mb.machine.counters[Tally(Kind.BLOCKS_SUBMITTED)] == 2


def test_a_tip_asked_before_the_block_landed_is_not_taken_for_a_loss() -> None:
    """A tip query sent before the block landed may be answered with the tip below it: that
    answer is stale and ignored; the next query's answer is the node's word."""
    mb, b, actions = _completed(1)
    assert _poll_tip(mb) == [("QueryTip",)]  # in flight when the block lands
    mb.handle(E.Submitted(1, b.block_hash, None))
    assert mb.machine.h is not None and mb.machine.h.height == 2
    assert mb.handle(E.NodeTip(0, GENESIS)) == []
    assert mb.machine.h.height == 2 and mb.machine.tip == (1, b.block_hash)
    assert _poll_tip(mb) == [("QueryTip",)]
    assert mb.handle(E.NodeTip(0, GENESIS)) == [("Submit", b.block_hash)]


def test_the_votes_of_a_height_left_for_a_lost_block_are_kept() -> None:
    """m1 prevoted at height 2 before its node lost block 1. Once block 1 lands again, height
    2 is taken up with that vote: the member never votes twice in one round."""
    mb, b, _ = _completed(1)
    mb.handle(E.Submitted(1, b.block_hash, None))
    assert mb.tick_at_deadline()[-1] == ("Broadcast", "prevote", 0, None)  # propose timeout
    h2 = mb.machine.h
    assert h2 is not None and h2.height == 2 and h2.sent == {(0, "prevote"): None}
    _poll_tip(mb)
    assert mb.handle(E.NodeTip(0, GENESIS)) == [("Submit", b.block_hash)]
    mb.handle(E.Submitted(1, b.block_hash, None))
    h2 = mb.machine.h
    assert h2 is not None and h2.height == 2 and h2.parent == b.block_hash
    assert h2.sent == {(0, "prevote"): None}
