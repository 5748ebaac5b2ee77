"""Counting and logging frames a member drops, by the peer they came from and the reason.

Every drop is counted (``oceanfed_frames_dropped_total{peer,reason}`` in ``/metrics``). The
log gets at most one line per peer and reason per :data:`LOG_INTERVAL` seconds: the first
drop is logged at once, later ones are summed into the next line, so a flood costs a line
a minute, not a line a frame.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

from oceanfed.consensus.machine import SETTLED

#: at most one log line per (peer, reason) in this many seconds
LOG_INTERVAL = 60.0
#: reasons that are a normal part of gossip (a repeat, a frame of a past height, a vote or
#: SIG that can change nothing any more): counted, logged at debug level only
ROUTINE = frozenset({"duplicate", "stale"}) | SETTLED
#: the peer of a frame whose transport cannot tell who sent it
UNKNOWN = "unknown"


class DropLog:
    """Thread-safe counter of dropped frames with a rate-limited log summary."""

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = LOG_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._log = logger
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()
        #: per (peer, reason): when the last line was logged and how many drops since
        self._last: dict[tuple[str, str], tuple[float, int]] = {}

    def note(self, peer: str | None, reason: str, n: int = 1, detail: str = "") -> None:
        """Count ``n`` frames from ``peer`` dropped for ``reason``; log if it is time
        (with ``detail`` after the reason, when given)."""
        key = (peer or UNKNOWN, reason)
        now = self._clock()
        with self._lock:
            self._counts[key] += n
            at, pending = self._last.get(key, (float("-inf"), 0))
            pending += n
            if now - at < self._interval:
                self._last[key] = (at, pending)
                return
            self._last[key] = (now, 0)
        level = logging.DEBUG if reason in ROUTINE else logging.WARNING
        since = "" if at == float("-inf") else f" in the last {now - at:.0f} s"
        more = f" ({detail})" if detail else ""
        self._log.log(level, "dropped %d frame(s) from %s: %s%s%s", pending, key[0], reason, more, since)

    def counts(self) -> dict[tuple[str, str], int]:
        """``{(peer, reason): frames}`` so far."""
        with self._lock:
            return dict(self._counts)

    def total(self, reason: str | None = None) -> int:
        """Frames dropped so far, for one reason or all."""
        with self._lock:
            return sum(v for (_, r), v in self._counts.items() if reason is None or r == reason)
