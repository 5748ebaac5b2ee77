"""The member's clock: the monotonic clock, counted from the Unix time at start.

Its readings look like Unix time, but a step of the system clock (NTP correcting a large
error, a VM restored from a snapshot, an operator's ``date -s``) does not move it. The
machine's timers are deadlines on this clock: on the wall clock, a step back of an hour
put every timer an hour off, and a federation whose members' clocks all stepped back
together made no block for that hour. What must be read against wall time (a block's
timestamp, a timestamp exported to Prometheus) goes through :func:`to_wall` or
:func:`from_wall`, with the offset as it is at that moment.
"""

from __future__ import annotations

import time
from collections.abc import Callable

_START_OFFSET = time.time() - time.monotonic()


def steady() -> float:
    """Seconds on the member's clock: monotonic, equal to Unix time at start."""
    return time.monotonic() + _START_OFFSET


def from_wall(wall: float, clock: Callable[[], float] = steady) -> float:
    """A Unix time as a reading of ``clock``, by the offset between them now."""
    return wall + (clock() - time.time())


def to_wall(reading: float, clock: Callable[[], float] = steady) -> float:
    """A reading of ``clock`` as Unix time, by the offset between them now."""
    return reading + (time.time() - clock())
