"""Real sockets against what a stranger at a peer's address, or at our port, can send."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import zmq
from oceanfed_zmq.messenger import ZmqMessenger
from testsupport.memory import PeakRss, rss_mb


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


FLOODER = Path(__file__).with_name("flooder.py")


def _flood(*args: object) -> tuple[str, float]:
    """Run the flooder with ``args``; its report and this process's peak RSS growth (MB)."""
    before = rss_mb()
    sampler = PeakRss()
    sampler.start()
    try:
        run = subprocess.run(
            [sys.executable, str(FLOODER), *map(str, args)],
            capture_output=True, timeout=120,
        )
    finally:
        peak = sampler.stop()
    assert run.returncode == 0, run.stderr.decode()
    return run.stdout.decode().strip(), peak - before


def test_a_strangers_subscription_flood_does_not_grow_the_publisher(mesh, wait) -> None:
    """Without CURVE anyone who reaches the port may subscribe. libzmq files every
    subscription in a trie (a node per byte) while it keeps reading a pipe its sender keeps
    full: 4 KiB subscriptions grew a member by several hundred MB in seconds. Only what the
    handshake needs is accepted now, two are queued per subscriber, and after 64 KiB of them
    the socket is bound again."""
    m = mesh(["a", "b"])
    a = m.start("a")
    m.start("b")
    m.sync()
    before = rss_mb()
    report_big, peak_big = _flood("plain", m.addresses["a"], 4000, 100, 30)
    report_small, peak_small = _flood("plain", m.addresses["a"], 58, 50, 30)
    m.sync()  # b subscribes to a again after a rebinds, and a reaches b
    wait(lambda: hears_from(m, "a", "b"), what="b to hear a after the flood")
    kept = rss_mb() - before
    print(f"\n4000-byte topics: {report_big}; RSS peaked {peak_big:.0f} MB above the start"
          f"\n58-byte topics: {report_small}; RSS peaked {peak_small:.0f} MB above the start"
          f"\nkept {kept:.0f} MB; {a.stats()['pub_resets']} rebind(s)")
    assert peak_big < 100 and peak_small < 100
    assert kept < 30
    assert a.stats()["pub_resets"] >= 1  # the small ones were taken, up to the budget


def test_a_members_subscription_flood_does_not_grow_the_publisher(mesh, wait, tmp_path) -> None:
    """With CURVE only members get through the handshake, and a member may send
    subscriptions up to what its CURVE handshake needs (512 bytes): under the old limits
    20,000 of 470 bytes from b's key grew a by 0.2 to 3 GB."""
    m = mesh(["a", "b"], curve=True)
    a = m.start("a")
    m.start("b")
    m.sync()
    before = rss_mb()
    report, peak = _flood("curve", m.addresses["a"], 470, 20000, m.curve_public["a"], tmp_path / "b.curve")
    m.sync()
    wait(lambda: hears_from(m, "a", "b"), what="b to hear a after the flood")
    kept = rss_mb() - before
    print(f"\n{report}; RSS peaked {peak:.0f} MB above the start and kept {kept:.0f} MB; "
          f"{a.stats()['pub_resets']} rebind(s)")
    assert peak < 100
    assert kept < 30
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
