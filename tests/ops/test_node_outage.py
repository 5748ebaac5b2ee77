"""The node outage's bookkeeping: only an answer to a call sent during the outage ends it."""

from __future__ import annotations

from oceanfed.driver import NodeOutage


def test_an_answer_to_a_call_sent_before_the_outage_does_not_end_it() -> None:
    now = [10.0]
    outage = NodeOutage("http://node/", clock=lambda: now[0])
    sent_before = now[0]
    now[0] = 11.0
    outage.failed("node at http://node/ answered getbestblockhash with garbage")
    assert outage.since == 11.0
    now[0] = 12.0
    outage.ok(sent_before)  # in flight when the node broke: says nothing about it since
    assert outage.since == 11.0 and outage.failures == 1
    outage.ok(11.5)  # sent during the outage: the node answers again
    assert outage.since is None and outage.failures == 0
