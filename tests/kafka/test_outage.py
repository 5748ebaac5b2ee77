"""Broker faults: the messenger keeps running, reconnects alone, logs once per outage."""

from __future__ import annotations

import logging
import os
import signal
import time

import pytest

from oceanfed_kafka.broker import TansuBroker
from oceanfed_kafka.messenger import KafkaMessenger

from .conftest import Fed, Inbox, MessengerFactory, wait_until

pytestmark = pytest.mark.kafka


def _gossip_until_delivered(
    sender: KafkaMessenger, fed: Fed, who: int, height: int, box: Inbox
) -> None:
    """Re-broadcast as the core's gossip would until one copy arrives."""
    frame = fed.frame(who, height, 0, "precommit")
    deadline = time.monotonic() + 20
    while not box.has(frame):
        assert time.monotonic() < deadline, "traffic did not resume after the broker came back"
        sender.broadcast(frame)
        time.sleep(0.1)


def test_broker_killed_and_restarted_twice(
    fed: Fed, messengers: MessengerFactory, broker: TansuBroker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="kafka")
    caplog.set_level(logging.INFO, logger="oceanfed")
    boxes = [Inbox(), Inbox()]
    ms = [messengers(fed, i, boxes[i], health_interval_ms=200) for i in range(2)]
    _gossip_until_delivered(ms[0], fed, 0, 1, boxes[1])

    for outage in (1, 2):
        broker.kill()
        wait_until(lambda: not any(m.connected for m in ms), what="outage noticed")
        for n in range(50):  # the core keeps broadcasting during the outage
            ms[1].broadcast(fed.frame(1, 1 + outage, 0, "prevote", n=n))
        time.sleep(1.0)
        broker.start()
        wait_until(lambda: all(m.connected for m in ms), timeout=30, what="reconnected")
        _gossip_until_delivered(ms[0], fed, 0, 10 * outage, boxes[1])
        _gossip_until_delivered(ms[1], fed, 1, 10 * outage, boxes[0])
        assert [m.stats()["reconnects"] for m in ms] == [outage, outage]

    ours = [r for r in caplog.records if r.name == "oceanfed.kafka"]
    lost = [r for r in ours if "lost contact" in r.getMessage()]
    back = [r for r in ours if "reconnected" in r.getMessage()]
    assert len(lost) == 4 and len(back) == 4, [
        r.getMessage() for r in ours
    ]  # 2 members x 2 outages
    assert all(r.levelno == logging.WARNING and broker.bootstrap in r.getMessage() for r in lost)
    others = [r for r in ours if r.levelno >= logging.WARNING and r not in lost]
    assert not others, [r.getMessage() for r in others]
    # kafka-python's own per-attempt complaints stay below the configured level
    assert not [
        r for r in caplog.records if r.name.startswith("kafka") and r.levelno >= logging.WARNING
    ]


def test_broadcast_never_blocks_and_drops_by_rule_during_an_outage(
    fed: Fed, messengers: MessengerFactory, broker: TansuBroker
) -> None:
    m = messengers(
        fed,
        0,
        Inbox(),
        send_queue=20,
        delivery_timeout_ms=500,
        request_timeout_ms=400,
        health_interval_ms=200,
    )
    wait_until(lambda: m.connected, what="connected")
    assert m.outage() == 0.0  # no peer has said a word, but the brokers answer: no outage
    broker.kill()
    wait_until(lambda: not m.connected, what="outage noticed")
    noticed = m.outage()
    assert noticed is not None and noticed > 0.0
    started = time.monotonic()
    for n in range(200):
        m.broadcast(fed.frame(0, 5, 0, "prevote", n=n))
    elapsed = time.monotonic() - started
    # max_block_ms is 1 s: a broadcast that waited on the network would take minutes here
    assert elapsed < 5, f"200 broadcasts took {elapsed:.1f} s during the outage"
    wait_until(lambda: m.stats()["dropped"] == 200, timeout=30, what="every frame dropped")
    assert m.stats()["sent"] == 0 and m.stats()["queued"] == 0
    assert (m.outage() or 0.0) >= noticed + (time.monotonic() - started) - 0.05
    broker.start()
    wait_until(lambda: m.connected, timeout=30, what="reconnected")
    assert m.outage() == 0.0


def test_a_hung_broker_is_an_outage_too(
    fed: Fed, messengers: MessengerFactory, broker: TansuBroker, caplog: pytest.LogCaptureFixture
) -> None:
    """SIGSTOP: connections stay open but nothing answers, as with a silent network drop."""
    caplog.set_level(logging.INFO, logger="oceanfed")
    boxes = [Inbox(), Inbox()]
    ms = [messengers(fed, i, boxes[i], health_interval_ms=200) for i in range(2)]
    _gossip_until_delivered(ms[0], fed, 0, 1, boxes[1])
    assert broker.pid is not None
    os.kill(broker.pid, signal.SIGSTOP)
    try:
        wait_until(lambda: not any(m.connected for m in ms), what="hung broker noticed")
    finally:
        os.kill(broker.pid, signal.SIGCONT)
    wait_until(lambda: all(m.connected for m in ms), timeout=30, what="contact again")
    _gossip_until_delivered(ms[1], fed, 1, 2, boxes[0])
    lost = [r for r in caplog.records if "lost contact" in r.getMessage()]
    assert len(lost) == 2 and [m.stats()["reconnects"] for m in ms] == [1, 1]
