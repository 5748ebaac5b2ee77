"""A 3-of-5 federation over Kafka (a real Tansu broker): blocks, and a broker crash."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from oceanfed_devnet.launcher import LocalFederation
from oceanfed_kafka.broker import TansuBroker
from testsupport.federation import verify_chain

from .conftest import BLOCK_TIME, verify_sign_state

pytestmark = [pytest.mark.slow, pytest.mark.kafka]

TARGET = 20
#: longer than the producer's delivery timeout (5 s), so frames queued during it are dropped
OUTAGE = 7.0


def _log(fed: LocalFederation, name: str) -> str:
    return (Path(fed.dir) / "logs" / f"{name}.log").read_text(errors="replace")


def test_blocks_over_kafka(kafka_federation: LocalFederation) -> None:
    fed = kafka_federation
    fed.start()
    t0 = time.monotonic()
    reached = fed.wait_height(TARGET, timeout=60)
    elapsed = time.monotonic() - t0
    assert reached >= TARGET, f"only {reached} blocks in 60 s: {fed.log_tail('m0')}"
    print(f"kafka federation: {reached} blocks in {elapsed:.1f} s")
    for name in fed.members:
        assert fed.running(name), f"{name} exited: {fed.log_tail(name)}"
        assert fed.stop(name) == 0, f"{name} did not stop cleanly: {fed.log_tail(name)}"
    blocks = verify_chain(fed)
    assert len(blocks) - 1 >= TARGET
    tables = verify_sign_state(fed, blocks)
    # every member took part: each agreed to sign most of the chain
    for name, table in tables.items():
        assert len(table) >= TARGET // 2, f"{name} agreed to sign only {len(table)} blocks"
    for name in fed.members:
        assert "Traceback" not in _log(fed, name)


def test_broker_crash_and_restart(kafka_federation: LocalFederation, broker: TansuBroker) -> None:
    fed = kafka_federation
    fed.start()
    assert fed.wait_height(8, timeout=40) >= 8, fed.log_tail("m0")

    broker.kill()  # SIGKILL; storage is in memory, so the broker comes back empty
    at_kill = fed.height()
    time.sleep(OUTAGE)
    during = fed.height()
    # a block whose signatures were already gathered may still land; nothing more can
    assert during <= at_kill + 1, f"{during - at_kill} blocks while the broker was down"

    broker.start()  # same port; nobody touches the members
    restarted = time.monotonic()
    first = fed.wait_height(during + 1, timeout=30)
    to_first = time.monotonic() - restarted
    assert first > during, f"no block within 30 s of the broker's restart: {fed.log_tail('m0')}"
    target = during + 10
    reached = fed.wait_height(target, timeout=30)
    assert reached >= target, f"production stalled after the restart: {fed.log_tail('m0')}"
    print(
        f"{during - at_kill} block(s) while the broker was down {OUTAGE:.0f} s; first block "
        f"{to_first:.1f} s after restart, {reached - during} blocks in "
        f"{time.monotonic() - restarted:.1f} s (block time {BLOCK_TIME} s)"
    )
    dropped = 0
    for name in fed.members:
        assert fed.running(name), f"{name} exited during the outage: {fed.log_tail(name)}"
        assert fed.stop(name) == 0, f"{name} did not stop cleanly: {fed.log_tail(name)}"
        log = _log(fed, name)
        assert log.count("kafka: lost contact with") == 1, f"{name}: no single outage warning"
        assert log.count("kafka: reconnected to") == 1, f"{name}: no single recovery line"
        dropped += sum(int(n) for n in re.findall(r"\((\d+) frame\(s\) dropped meanwhile\)", log))
        assert "Traceback" not in log
    # the outage outlasted the delivery timeout: frames were dropped and the core re-sent
    assert dropped > 0
    blocks = verify_chain(fed)
    verify_sign_state(fed, blocks)
