"""The machine's timers: :meth:`Machine.next_deadline` names only a deadline a tick acts on.

Before the timers were one dict, ``next_deadline()`` and the tick each had their own
conditions, and they differed: in the cases below the deadline named a past time the tick did
nothing at, so a driver woke up at once, again and again, until something else changed.
Each test asserts the deadline now named and what the tick at it does (the same as before).
"""

from __future__ import annotations

import pytest

from oceanfed import crypto
from oceanfed.consensus import actions as A
from oceanfed.consensus import events as E
from oceanfed.consensus import machine as core
from oceanfed.consensus.machine import Timer
from testsupport.member import Member


def test_the_round_timeout_waits_for_a_running_prevote_timeout() -> None:
    """Round 0's last-resort timeout (at 7 s) passes while the prevote timeout runs (until
    7.5 s): the next deadline is the prevote timeout, and at it the round ends at once."""
    mb = Member(n=4, m=3, me=0)
    b = mb.block(1)
    mb.prevoted(0, b)
    assert mb.machine.timers[Timer.ROUND] == 7.0
    # M prevotes, no value with M of them: the prevote timeout starts (at 6.5 s, for 1 s)
    assert mb.receive(mb.vote(1, 0, "prevote", None)) == []
    assert mb.handle(E.Received(mb.vote(2, 0, "prevote", None)), dt=6.5) == []
    assert mb.machine.next_deadline() == 7.5  # not the round timeout, 7.0, that waits for it
    assert mb.handle(E.Tick(), dt=0.6) == []  # 7.1 s: nothing is due
    assert mb.tick_at_deadline() == [
        ("Persist", 0, None, None, None), ("Broadcast", "precommit", 0, None),  # timeoutPrevote
    ]
    # the round timeout, waiting until now, ended round 0 in the same tick
    assert mb.machine.h is not None and mb.machine.h.round == 1


def test_a_retry_waits_while_the_signer_works() -> None:
    """A failed node call's retry is not a deadline while a signature is being made."""
    mb = Member(n=4, m=3, me=0)
    b = mb.block(1)
    mb.locked_on(b)
    assert mb.receive(mb.vote(1, 0, "precommit", b), mb.vote(2, 0, "precommit", b))[-1] == (
        "Sign", b.block_hash)
    assert mb.handle(E.NodeFailed("build", 1, "unreachable")) == []
    assert mb.machine.timers[Timer.RETRY] == mb.now + 0.5
    assert mb.machine.next_deadline() == mb.machine.timers[Timer.GOSSIP]  # far away
    own = crypto.sign_digest(mb.block_keys[0], b.digest)
    assert mb.handle(E.Signed(1, b.block_hash, own)) == [("Broadcast", "sig", 0, b.block_hash)]
    assert mb.machine.next_deadline() == mb.now + 0.5  # the signer answered: the retry counts


def test_an_unknown_event_is_refused_loudly() -> None:
    mb = Member(n=4, m=3, me=0)
    with pytest.raises(TypeError, match="not a consensus event"):
        mb.machine.handle("tick", mb.now)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="NodeFailed.what"):
        mb.machine.handle(E.NodeFailed("sign", 1, "?"), mb.now)


def test_the_rules_pass_cap_is_logged(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rules still firing when the passes run out wait for the next event, with a warning."""
    mb = Member(n=4, m=3, me=0)
    b = mb.block(1)
    mb.prevoted(0, b)
    monkeypatch.setattr(core, "MAX_RULE_PASSES", 1)
    # the third prevote makes a polka: one pass locks and precommits, and the rules would go on
    actions = mb.machine.handle(E.Received(mb.vote(1, 0, "prevote", b)), mb.now)
    assert not [a for a in actions if isinstance(a, A.Log) and "rules still firing" in a.message]
    actions = mb.machine.handle(E.Received(mb.vote(2, 0, "prevote", b)), mb.now)
    warnings = [a for a in actions if isinstance(a, A.Log) and a.level == "warning"]
    assert [w.message for w in warnings] == [
        "height 1 round 0: rules still firing after 1 passes; the rest waits for the next event"
    ]


def test_the_block_interval_is_no_deadline_while_a_valid_block_is_held() -> None:
    """The round-0 proposer waits for the block interval (until 5 s). Meanwhile a round-1
    proposal's proof of lock shows it a polka of round 0: it holds a valid block, which it
    re-proposes rather than build another, so the interval's end is no longer a deadline.
    The next one is the propose timeout (6 s); nothing is due at 5.5 s."""
    mb = Member(n=4, m=3, me=1, block_time=5.0)
    assert mb.proposer(0) == 1 and mb.started == []
    assert mb.machine.next_deadline() == 5.0  # the block interval, while nothing is held
    b = mb.block(1)
    pol = [mb.vote(i, 0, "prevote", b) for i in (0, 2, 3)]
    assert mb.receive(mb.proposal(1, b, vr=0, pol=pol)) == [("Validate", b.block_hash)]
    assert mb.handle(E.Validated(1, b.block_hash, None), dt=1.0)[0][0] == "Persist"
    assert mb.machine.h is not None and mb.machine.h.valid == (b.block_hash, 0)
    assert mb.machine.timers[Timer.READY] == 5.0  # still set, but it does not count
    mb.now = 5.5
    assert mb.machine.next_deadline() == 6.0
    assert mb.handle(E.Tick()) == []  # no block built
    # timeoutPropose: prevote nil; then round 0's polka (at the prevote step) locks on b
    assert mb.tick_at_deadline() == [
        ("Persist", 0, None, None, None), ("Broadcast", "prevote", 0, None),
        ("Persist", 0, (b.block_hash, 0), None, None), ("Broadcast", "precommit", 0, b.block_hash),
    ]


def test_a_failed_build_is_asked_again_at_the_retry_not_at_once() -> None:
    """The round-0 proposer's node cannot build (it is down, or its backoff refuses the
    call): the next event asks again only once the retry is due. Asking at once span: the
    driver refuses a call at once during an outage, and thousands of requests a second
    followed."""
    mb = Member(n=4, m=3, me=1)
    assert mb.started == [("BuildProposal", 0)]
    assert mb.handle(E.NodeFailed("build", 1, "refused")) == []
    retry = mb.machine.timers[Timer.RETRY]
    assert retry == mb.now + core.RETRY_DELAY
    assert mb.handle(E.Tick(), dt=core.RETRY_DELAY / 2) == []  # not due: nothing asked
    assert mb.machine.next_deadline() == retry
    assert mb.tick_at_deadline() == [("BuildProposal", 0)]

