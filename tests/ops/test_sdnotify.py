"""sd_notify over a real unix datagram socket: the protocol, and a real member's READY and
watchdog pings as systemd would receive them."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from oceanfed.sdnotify import Notifier
from oceanfed_devnet.launcher import LocalFederation


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify.sock")
    sock.bind(path)
    sock.settimeout(20)
    yield sock, path
    sock.close()


def _messages(sock: socket.socket, until: str, timeout: float = 30) -> list[str]:
    """Datagrams received until one contains ``until``."""
    got: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got.append(sock.recv(4096).decode())
        if until in got[-1]:
            return got
    raise AssertionError(f"no {until!r} within {timeout}s: {got}")


def test_ready_status_stopping_and_rate_limited_watchdog(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    now = [100.0]
    n = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "3000000"}, clock=lambda: now[0])
    assert n.enabled and n.watchdog_interval == pytest.approx(1.0)
    assert n.ready("member m0 signing")
    assert sock.recv(4096) == b"READY=1\nSTATUS=member m0 signing"
    n.watchdog()
    n.watchdog()  # within a third of WatchdogSec: not sent again
    now[0] += 1.0
    n.watchdog()
    assert n.stopping()
    sock.settimeout(2)
    assert [sock.recv(4096) for _ in range(3)] == [b"WATCHDOG=1", b"WATCHDOG=1", b"STOPPING=1"]
    n.close()


def test_a_receiver_that_stops_reading_never_stops_the_loop(listener: tuple[socket.socket, str]) -> None:
    """The watchdog ping runs on the member's loop: when systemd's queue is full it is not
    sent (and tried again at the next turn) instead of waiting for room."""
    sock, path = listener
    now = [0.0]
    n = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "3"}, clock=lambda: now[0])
    pings = 0
    started = time.monotonic()
    for _ in range(5000):  # far more than a unix datagram queue holds
        if time.monotonic() - started > 5:
            break
        now[0] += 1.0
        n.watchdog()
        pings += n._last_ping == now[0]
    assert time.monotonic() - started < 5
    assert 0 < pings < 5000  # the queue filled, and the loop went on
    sock.recv(4096)  # room again: the next ping goes out
    now[0] += 1.0
    n.watchdog()
    assert n._last_ping == now[0]
    n.close()


def test_abstract_socket_addresses(tmp_path: Path) -> None:
    name = f"oceanfed-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(5)
    try:
        assert Notifier({"NOTIFY_SOCKET": "@" + name}).ready()
        assert sock.recv(100) == b"READY=1"
    finally:
        sock.close()


def test_outside_systemd_nothing_is_sent_and_nothing_fails(tmp_path: Path) -> None:
    n = Notifier({})
    assert not n.enabled and not n.ready() and n.watchdog_interval is None
    n.watchdog()
    # a socket that went away: the member keeps running
    gone = Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock"), "WATCHDOG_USEC": "1000"})
    assert gone.ready() is False
    gone.watchdog()
    # another process's watchdog: not ours to ping
    other = Notifier({"NOTIFY_SOCKET": str(tmp_path / "x"), "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"})
    assert other.watchdog_interval is None


@pytest.mark.slow
def test_a_member_is_ready_after_its_node_check_and_pings_from_its_loop(
    listener: tuple[socket.socket, str], tmp_path: Path
) -> None:
    sock, path = listener
    with LocalFederation(tmp_path / "fed", members=3, threshold=2, block_time=0.5) as fed:
        fed.start(["m1", "m2"])
        fed.start_member("m0", env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "600000"})
        got = _messages(sock, "READY=1")
        assert got[-1].startswith("READY=1\nSTATUS=member m0 signing on ocean_test"), got
        # the state is held (its lock taken) and the node was checked before READY
        assert (fed.state_dirs["m0"] / "state.sqlite3").exists()
        pings = [m for m in _messages(sock, "WATCHDOG=1") if m == "WATCHDOG=1"]
        assert pings
        t0 = time.monotonic()
        _messages(sock, "WATCHDOG=1")
        assert time.monotonic() - t0 < 5  # still pinging while the loop turns
        assert fed.stop("m0") == 0
        assert "STOPPING=1" in _messages(sock, "STOPPING=1")[-1]
