"""Waiting for conditions and recording delivered frames, for the messenger tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from oceanfed.netutil import free_ports


def free_port() -> int:
    """A free port outside the ephemeral range (safe to rebind after a restart)."""
    return free_ports(1)[0]


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


class Inbox:
    """Thread-safe record of delivered frames."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        #: the peer each frame came from, as the messenger named it
        self.peers: list[str | None] = []
        self._lock = threading.Lock()

    def __call__(self, data: bytes, peer: str | None = None) -> None:
        with self._lock:
            self.frames.append(data)
            self.peers.append(peer)

    def snapshot(self) -> list[bytes]:
        with self._lock:
            return list(self.frames)

    def has(self, data: bytes) -> bool:
        return data in self.snapshot()
