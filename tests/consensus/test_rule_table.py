"""A pass tries only the rules that can fire in the state it finds: a rule left out for
(decided, step) is one whose own first test says False there, whatever else holds."""

from __future__ import annotations

import copy

import pytest

from oceanfed.consensus.machine import Machine, Step
from testsupport.member import Member


def _busy(variant: str) -> Member:
    """m0 of 3-of-4 with a proposal, a polka and a precommit for it in round 0, and: prevotes
    of round 1 that move it there, or its block's verdict forgotten (so that most rules have
    something to act on)."""
    mb = Member(n=4, m=3, me=0)
    b = mb.block(1)
    mb.locked_on(b)
    mb.receive(mb.vote(1, 0, "precommit", b))
    if variant == "round 1":
        mb.receive(mb.vote(2, 1, "prevote", b), mb.vote(3, 1, "prevote", b))
    elif variant == "no verdict":
        h = mb.machine.h
        assert h is not None
        h.validity.clear()
    return mb


@pytest.mark.parametrize("variant", ["round 0", "round 1", "no verdict"])
@pytest.mark.parametrize("decided", [False, True])
@pytest.mark.parametrize("step", list(Step))
def test_a_rule_left_out_cannot_fire_there(decided: bool, step: Step, variant: str) -> None:
    mb = _busy(variant)
    h = mb.machine.h
    assert h is not None
    left_out = [r for r in Machine.RULES if r not in Machine.RULES_BY_STATE[(decided, step)]]
    auth, mb.machine.auth = mb.machine.auth, None  # type: ignore[assignment]
    for rule in left_out:
        machine = copy.deepcopy(mb.machine)
        machine.auth = auth
        hh = machine.h
        assert hh is not None
        hh.step = step
        hh.decided = next(iter(hh.blocks)) if decided else None
        before = (copy.deepcopy(vars(hh)), dict(machine.timers))
        assert rule(machine, hh) is False, rule.__name__
        assert machine._out == [] and (vars(hh), machine.timers) == before, rule.__name__


def test_the_table_keeps_the_order_and_leaves_out_something() -> None:
    for rules in Machine.RULES_BY_STATE.values():
        assert list(rules) == [r for r in Machine.RULES if r in rules]
    assert all(len(rules) < len(Machine.RULES) for rules in Machine.RULES_BY_STATE.values())
