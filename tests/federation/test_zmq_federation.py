"""A 3-of-5 federation over real ZMQ sockets on the devnet, with members killed and restarted."""

from __future__ import annotations

import random
import time

import pytest

from oceanfed.audit import audit_chain, chain_headers, read_signed
from oceanfed_devnet.launcher import LocalFederation

pytestmark = pytest.mark.slow


def audit(fed: LocalFederation) -> int:
    """Check the chain and every member's sign-state; return the chain's height."""
    headers = chain_headers(fed.rpc())
    signed = {n: read_signed(fed.layout.member_dir(n) / "state") for n in fed.members}
    assert all(signed.values()), "a member never recorded a sign-state"
    assert audit_chain(headers, fed.layout.threshold, signed, fed.members) == []
    return len(headers) - 1


def proposer_of_next(fed: LocalFederation) -> str:
    height = fed.height() + 1
    return fed.members[height % len(fed.members)]


def test_survives_two_failures_stops_at_three_and_recovers(federation: LocalFederation) -> None:
    fed = federation
    fed.start()
    assert fed.wait_height(20, 60) >= 20, fed.log_tail("m0")

    # kill the next proposer and one more member: M = 3 are left
    first = proposer_of_next(fed)
    second = next(n for n in fed.members if n != first)
    fed.kill(first)
    fed.kill(second)
    h = fed.height()
    assert fed.wait_height(h + 5, 60) >= h + 5, "the federation stalled with 3 of 5 up"

    # a third failure leaves 2 < M: the chain must stop, without forking
    third = next(n for n in fed.members if n not in (first, second))
    fed.kill(third)
    time.sleep(1.0)  # let a block in flight land
    stalled = fed.height()
    time.sleep(4.0)
    assert fed.height() == stalled, "blocks were produced with only 2 of 5 members"

    # restart everyone that was killed: production resumes
    for name in (first, second, third):
        fed.start_member(name)
    assert fed.wait_height(stalled + 5, 60) >= stalled + 5, fed.log_tail(first)
    assert audit(fed) >= 30


def test_restarts_mid_round_never_sign_a_second_block(federation: LocalFederation) -> None:
    fed = federation
    fed.start()
    assert fed.wait_height(3, 30) >= 3
    rng = random.Random(20261125)
    kills = 0
    deadline = time.monotonic() + 40
    while kills < 12 and time.monotonic() < deadline:
        victim = rng.choice(fed.members)
        time.sleep(rng.uniform(0.05, 0.6))  # at a random point of a round
        fed.kill(victim)
        kills += 1
        time.sleep(rng.uniform(0.0, 0.3))
        fed.start_member(victim)
    h = fed.height()
    assert fed.wait_height(h + 5, 60) >= h + 5, "production did not resume after the restarts"
    assert audit(fed) >= h + 5
    assert kills == 12
