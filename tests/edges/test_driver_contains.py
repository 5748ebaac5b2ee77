"""One frame can never stop the driver; drops are counted by peer and logged once a minute."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from oceanfed import wire
from oceanfed.config import load_config
from oceanfed.droplog import DropLog
from oceanfed.member import build_driver
from oceanfed_devnet.launcher import LocalFederation
from testsupport.federation import fast_rounds


@pytest.fixture
def fed(tmp_path: Path) -> Iterator[LocalFederation]:
    f = LocalFederation(tmp_path / "fed", 3, 2, block_time=0.3, rounds=fast_rounds(0.2))
    try:
        f.start(["m1", "m2"])
        yield f
    finally:
        f.close()


@pytest.mark.slow
def test_an_exception_from_one_frame_drops_that_frame_only(
    fed: LocalFederation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As main's decoder did with nested JSON: a frame makes the machine raise."""
    original = wire._parse_body

    def parse(body: bytes) -> wire.Envelope:
        if b"boom" in body:
            raise RecursionError("maximum recursion depth exceeded")
        return original(body)

    monkeypatch.setattr(wire, "_parse_body", parse)
    driver = build_driver(load_config(fed.layout.fed_toml("m0")))
    thread = threading.Thread(target=driver.run, daemon=True)
    thread.start()
    try:
        assert fed.wait_height(3, 60) >= 3
        for i in range(50):
            body = b'{"boom":%d}' % i
            driver._deliver(wire.MAGIC + len(body).to_bytes(4, "big") + body + b"sig", "m1")
        deadline = time.monotonic() + 10
        while driver.drops.counts().get(("m1", "error:RecursionError"), 0) < 50:
            assert time.monotonic() < deadline, driver.drops.counts()
            time.sleep(0.05)
        assert thread.is_alive(), "the driver stopped on a frame"
        signed = driver.machine.sign_state.height
        fed.wait_height(fed.height() + 3, 30)
        deadline = time.monotonic() + 20
        while driver.machine.sign_state.height <= signed:  # the member still signs
            assert time.monotonic() < deadline, "the member stopped signing"
            time.sleep(0.05)
    finally:
        driver.stop()
        thread.join(10)


def test_drops_are_logged_once_a_minute_per_peer_and_reason(caplog: pytest.LogCaptureFixture) -> None:
    now = [1000.0]
    drops = DropLog(logging.getLogger("test.drops"), clock=lambda: now[0])
    with caplog.at_level(logging.DEBUG, logger="test.drops"):
        for _ in range(500):
            drops.note("m1", "bad-signature")
            drops.note("m2", "bad-signature")
            drops.note("m1", "inbox-full")
            now[0] += 0.1  # 50 s in all
        first = [r.getMessage() for r in caplog.records]
        now[0] += 11
        drops.note("m1", "bad-signature")
    assert first == [
        "dropped 1 frame(s) from m1: bad-signature",
        "dropped 1 frame(s) from m2: bad-signature",
        "dropped 1 frame(s) from m1: inbox-full",
    ]
    assert caplog.records[-1].getMessage() == "dropped 500 frame(s) from m1: bad-signature in the last 61 s"
    assert caplog.records[-1].levelno == logging.WARNING
    assert drops.counts()[("m1", "bad-signature")] == 501
    assert drops.total("inbox-full") == 500


@pytest.mark.parametrize("reason", ["duplicate", "stale", "settled-vote", "settled-sig"])
def test_routine_drops_are_counted_and_logged_at_debug_only(
    caplog: pytest.LogCaptureFixture, reason: str
) -> None:
    """Repeats, frames of a past height and votes or SIGs that can change nothing are part of
    every healthy round: an operator's log at INFO stays quiet about them."""
    drops = DropLog(logging.getLogger("test.routine"))
    with caplog.at_level(logging.DEBUG, logger="test.routine"):
        drops.note("m1", reason)
        drops.note("m1", "bad-signature")
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.DEBUG, f"dropped 1 frame(s) from m1: {reason}"),
        (logging.WARNING, "dropped 1 frame(s) from m1: bad-signature"),
    ]
    assert drops.total(reason) == 1
