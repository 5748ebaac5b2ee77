"""JSON log lines: structured fields, the member's context and tracebacks as ``exc_info``."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from oceanfed import logsetup


@pytest.fixture
def logger() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger writing JSON lines the way ``setup_logging(fmt="json")`` does, to a buffer."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logsetup.JsonFormatter())
    handler.addFilter(logsetup._context)
    log = logging.getLogger("oceanfed.test-json")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    saved = dict(logsetup._context.fields)
    yield log, out
    log.removeHandler(handler)
    logsetup._context.fields = saved


def test_fields_context_and_exc_info(logger: tuple[logging.Logger, io.StringIO]) -> None:
    log, out = logger
    logsetup.set_log_context(member="m3", chain="ocean_main")
    log.info("block %d accepted", 7, extra={"height": 7, "round": 1, "peer": "m2",
                                            "block": "ab" * 32, "proposer": "m1"})
    try:
        raise ValueError("bad frame")
    except ValueError:
        log.exception("hook failed", extra={"hook": "audit"})
    first, second = [json.loads(line) for line in out.getvalue().splitlines()]
    assert first["msg"] == "block 7 accepted"
    assert {k: first[k] for k in ("height", "round", "peer", "block", "proposer", "member", "chain")} == {
        "height": 7, "round": 1, "peer": "m2", "block": "ab" * 32, "proposer": "m1",
        "member": "m3", "chain": "ocean_main",
    }
    assert "exc_info" not in first
    assert second["level"] == "error" and second["hook"] == "audit"
    assert second["exc_info"].startswith("Traceback") and "ValueError: bad frame" in second["exc_info"]
    # nothing of LogRecord's own bookkeeping leaks into the line
    assert not {"args", "levelno", "pathname", "thread", "msecs"} & set(second)


def test_setup_logging_installs_the_context(logger: tuple[logging.Logger, io.StringIO]) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logsetup.setup_logging("info", "json")
        (handler,) = root.handlers
        assert isinstance(handler.formatter, logsetup.JsonFormatter)
        assert logsetup._context in handler.filters
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
