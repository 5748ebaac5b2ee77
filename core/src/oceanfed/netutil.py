"""Picking local TCP ports for processes that may restart and bind them again."""

from __future__ import annotations

import secrets
import socket
from pathlib import Path


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free on 127.0.0.1 right now.

    They are drawn below the kernel's ephemeral range, so that no outgoing connection can
    take one as its local port while a member or endpoint is down and about to rebind it.
    """
    low = _ephemeral_range()[0]
    first = 10000 if low > 12000 else 1024
    rng = secrets.SystemRandom()
    socks: list[socket.socket] = []
    try:
        for _ in range(count * 50):
            if len(socks) == count:
                break
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind(("127.0.0.1", rng.randrange(first, low)))
            except OSError:
                s.close()
                continue
            socks.append(s)
        while len(socks) < count:  # a crowded machine: fall back to the kernel's choice
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()
