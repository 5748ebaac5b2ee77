"""systemd's readiness and watchdog protocol (``sd_notify``), without libsystemd.

Under a ``Type=notify`` unit systemd passes ``$NOTIFY_SOCKET``, a unix datagram socket (a
path, or an abstract name starting with ``@``); a member sends ``READY=1`` once it holds its
state and has checked its node, ``WATCHDOG=1`` from its loop while that loop turns (when the
unit sets ``WatchdogSec``, systemd passes ``$WATCHDOG_USEC``) and ``STOPPING=1`` on the way
out. Outside systemd every call does nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

log = logging.getLogger("oceanfed.sdnotify")

#: seconds READY, STATUS and STOPPING may wait for room in systemd's queue (the watchdog
#: ping, sent from the member's loop, never waits)
ONCE_WAIT = 2.0


class Notifier:
    """Sends notifications to systemd when ``$NOTIFY_SOCKET`` is set; otherwise a no-op."""

    def __init__(
        self, environ: Mapping[str, str] | None = None, clock: Callable[[], float] = time.monotonic
    ):
        env = os.environ if environ is None else environ
        path = env.get("NOTIFY_SOCKET", "")
        if path.startswith("@"):  # abstract namespace
            path = "\0" + path[1:]
        self.address = path or None
        #: seconds between watchdog pings (a third of WatchdogSec), None without a watchdog
        self.watchdog_interval: float | None = None
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        if self.address and usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            self.watchdog_interval = int(usec) / 1e6 / 3
        self.clock = clock
        self._last_ping: float | None = None
        self._sock: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, message: str, wait: float = ONCE_WAIT) -> bool:
        """Send one notification (``KEY=VALUE`` lines), waiting at most ``wait`` seconds for
        room in the receiver's queue (0: not at all); False when not sent."""
        if self.address is None:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.settimeout(wait)
            self._sock.sendto(message.encode(), self.address)
        except OSError as exc:  # systemd went away, stalls, or the socket is not ours: keep running
            log.debug("sd_notify to %r failed: %s", self.address, exc)
            return False
        return True

    def ready(self, status: str = "") -> bool:
        """The member holds its state and has checked its node."""
        return self.notify("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def status(self, status: str) -> bool:
        return self.notify(f"STATUS={status}")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def watchdog(self) -> None:
        """Called from the member's loop: pings the watchdog at most every third of WatchdogSec."""
        if self.watchdog_interval is None:
            return
        now = self.clock()
        due = self._last_ping is None or now - self._last_ping >= self.watchdog_interval
        # from the loop: never waits (a receiver that stopped reading would stop the loop);
        # a ping that finds no room is sent again at the next turn
        if due and self.notify("WATCHDOG=1", wait=0.0):
            self._last_ping = now

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
