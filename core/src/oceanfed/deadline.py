"""Calls into devices that may never return: a PKCS#11 library waiting on a hung token or
HSM blocks inside C, where no signal or timeout can reach it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")


class NoAnswer(Exception):
    """The call did not return within its time; it goes on in a daemon thread."""


def call_within(seconds: float, fn: Callable[[], T], name: str = "call") -> T:
    """``fn()``, on a daemon thread; raise :class:`NoAnswer` if it has not returned within
    ``seconds`` (it is left running: the process may still exit)."""
    done = threading.Event()
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name=f"oceanfed-{name}", daemon=True).start()
    if not done.wait(seconds):
        raise NoAnswer(f"no answer within {seconds:g} s")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


@contextmanager
def warn_if_slow(log: logging.Logger, seconds: float, what: str) -> Iterator[None]:
    """Log one warning if the block has not finished after ``seconds`` (it is not stopped)."""
    timer = threading.Timer(
        seconds, log.warning, ("%s has taken %g s so far (is a token, HSM or device hung?)", what, seconds)
    )
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
