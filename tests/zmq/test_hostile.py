"""Real sockets against what a stranger at a peer's address, or at our port, can send."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import threading
import time

import zmq
from oceanfed_zmq.messenger import ZmqMessenger


def _rss_mb() -> float:
    """Resident memory after glibc hands its free pages back, so freed sockets do not count."""
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _stranger_pub(address: str) -> tuple[zmq.Context, zmq.Socket]:  # type: ignore[type-arg]
    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    pub.bind(address)
    return ctx, pub


def test_an_oversized_frame_does_not_cut_the_link_for_good(mesh, wait) -> None:
    m = mesh(["a", "b"])
    a = m.start("a", max_message_bytes=4096, reconnect_ivl_max_ms=200)
    ctx, stranger = _stranger_pub(m.addresses["b"])  # someone holds b's address
    try:

        def hears(data: bytes) -> bool:
            stranger.send(data)
            time.sleep(0.02)
            return m.inboxes["a"].has(data)

        wait(lambda: hears(b"before"), what="a subscribed to the stranger")
        for _ in range(3):
            stranger.send(b"x" * 5000)  # over max_message_bytes: libzmq drops the link
            wait(lambda: a.stats()["link_resets"] >= 1, what="the link to be reset")
            wait(lambda: hears(b"after"), what="the link to come back by itself")
            m.inboxes["a"].frames.clear()
        assert a.stats()["link_resets"] >= 3
        assert set(m.inboxes["a"].peers) <= {"b"}
    finally:
        stranger.close(0)
        ctx.term()
    # the real b comes back at its address: a hears it
    m.start("b")
    wait(lambda: hears_from(m, "b", "a"), what="a to hear the real b")


def hears_from(m, sender: str, receiver: str) -> bool:  # type: ignore[no-untyped-def]
    data = f"hello from {sender}".encode()
    m.messengers[sender].broadcast(data)
    time.sleep(0.02)
    return m.inboxes[receiver].has(data)


FLOODER = """
import os, sys, zmq
ctx = zmq.Context()
x = ctx.socket(zmq.XSUB)
x.setsockopt(zmq.SNDHWM, 0)
x.setsockopt(zmq.LINGER, 20000)
x.connect(sys.argv[1])
for i in range(int(sys.argv[2])):
    x.send(b"\\x01" + i.to_bytes(4, "big") + os.urandom(150))
x.close()
ctx.term()
"""


class _PeakRss(threading.Thread):
    """Samples this process's resident memory until stopped and keeps the highest figure."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = _rss_mb()
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(0.02):
            self.peak = max(self.peak, _rss_mb())

    def stop(self) -> float:
        self._halt.set()
        self.join()
        return max(self.peak, _rss_mb())


def test_subscription_floods_do_not_grow_the_publisher(mesh, wait) -> None:
    """A subscriber's subscriptions live as long as its connection: served one by one, 200k
    distinct ones held about 1.7 GB while the flooder stayed connected. Rebinding bounds the
    peak (what libzmq queued between two reads, at most one resend of the flooder's set), and
    nothing stays once it has gone."""
    m = mesh(["a", "b"])
    a = m.start("a")
    m.start("b")
    m.sync()
    before = _rss_mb()
    sampler = _PeakRss()
    sampler.start()
    try:
        flooder = subprocess.run(
            [sys.executable, "-c", FLOODER, m.addresses["a"], "200000"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120,
        )
    finally:
        peak = sampler.stop()
    assert flooder.returncode == 0, flooder.stderr.decode()
    m.sync()  # b subscribes to a again after a rebinds, and a reaches b
    wait(lambda: hears_from(m, "a", "b"), what="b to hear a after the flood")
    grown, kept = peak - before, _rss_mb() - before
    print(f"\nRSS peaked {grown:.0f} MB above the start through 200k distinct subscriptions "
          f"and kept {kept:.0f} MB; {a.stats()['pub_resets']} rebind(s)")
    assert grown < 600
    assert kept < 50
    assert a.stats()["pub_resets"] >= 1


def test_frames_name_the_peer_whose_link_carried_them(mesh) -> None:
    m = mesh(["a", "b", "c"])
    m.start_all()
    m.sync()
    for name in ("b", "c"):
        for _ in range(3):
            m.messengers[name].broadcast(f"from {name}".encode())
    time.sleep(0.2)
    box = m.inboxes["a"]
    pairs = set(zip(box.snapshot(), box.peers, strict=True))
    assert (b"from b", "b") in pairs and (b"from c", "c") in pairs
    assert not any(f == b"from b" and p != "b" for f, p in pairs)
    assert isinstance(m.messengers["a"], ZmqMessenger)


def test_a_multipart_message_is_dropped_whole(mesh, wait) -> None:
    """Frames are single-part: a message of several parts is counted as dropped and none of
    its parts is delivered, and the frames around it still are."""
    m = mesh(["a", "b"])
    a = m.start("a")
    ctx, stranger = _stranger_pub(m.addresses["b"])
    try:

        def hears(data: bytes) -> bool:
            stranger.send(data)
            time.sleep(0.02)
            return m.inboxes["a"].has(data)

        wait(lambda: hears(b"before"), what="a subscribed to the stranger")
        stranger.send(b"one")
        stranger.send_multipart([b"part 1", b"part 2", b"part 3"])
        stranger.send(b"two")
        wait(lambda: m.inboxes["a"].has(b"two"), what="the frame after the multipart one")
        frames = m.inboxes["a"].snapshot()
        assert not {b"part 1", b"part 2", b"part 3"} & set(frames)
        assert frames.index(b"one") < frames.index(b"two")
        assert a.stats()["dropped"] == 1
    finally:
        stranger.close(0)
        ctx.term()
