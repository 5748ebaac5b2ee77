"""Real-socket tests of the ZeroMQ mesh: delivery, concurrency, restarts, errors."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from oceanfed.config import PluginTable
from oceanfed.errors import ConfigError, MessengerError
from oceanfed_zmq.messenger import ZmqMessenger
from oceanfed_zmq.options import ZmqOptions
from testsupport.processes import Spawned

ECHO_PEER = Path(__file__).with_name("echo_peer.py")


def table(**options: object) -> PluginTable:
    return PluginTable.model_validate(options)


@pytest.mark.parametrize("n", [3, 5])
def test_every_member_gets_every_other_members_frames_in_order(mesh, wait, n) -> None:
    names = [f"m{i}" for i in range(n)]
    m = mesh(names)
    m.start_all()
    m.sync()
    sent = {s: [f"{s}:{k}".encode() for k in range(20)] for s in names}
    for k in range(20):
        for s in names:
            m.messengers[s].broadcast(sent[s][k])

    def complete() -> bool:
        return all(
            all(f in m.inboxes[r].snapshot() for s in names if s != r for f in sent[s])
            for r in names
        )

    wait(complete, what="all frames")
    for r in names:
        got = [f for f in m.inboxes[r].snapshot() if not f.startswith(b"sync:")]
        assert not any(f.startswith(r.encode() + b":") for f in got), "a member heard itself"
        for s in names:
            if s != r:
                assert [f for f in got if f.startswith(s.encode() + b":")] == sent[s]
        stats = m.messengers[r].stats()
        assert stats["peers_connected"] == n - 1
        assert stats["sent"] >= 20 and stats["received"] >= 20 * (n - 1)


def test_broadcast_from_many_threads(mesh, wait) -> None:
    m = mesh(["a", "b"])
    m.start("a", sndhwm=10000)  # a burst of 1000 at once: room for all of it
    m.start("b")
    m.sync()
    a = m.messengers["a"]

    def send(t: int) -> None:
        for k in range(250):
            a.broadcast(f"t{t}-{k}".encode() + b"x" * (k % 7) * 100)

    threads = [threading.Thread(target=send, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wait(lambda: sum(f.startswith(b"t") for f in m.inboxes["b"].snapshot()) >= 1000, what="1000 frames")
    got = [f for f in m.inboxes["b"].snapshot() if f.startswith(b"t")]
    assert len(got) == len(set(got)) == 1000
    for n in range(4):
        mine = [int(f.split(b"-")[1].rstrip(b"x")) for f in got if f.startswith(f"t{n}-".encode())]
        assert mine == list(range(250))


def test_in_process_restart_resumes_traffic(mesh, wait) -> None:
    m = mesh(["a", "b", "c"])
    m.start_all()
    m.sync()
    a = m.messengers["a"]
    m.stop("b")
    wait(lambda: a.stats()["disconnects"] >= 1, what="a to notice b left")
    assert "b" not in a.connected_peers()
    m.start("b")
    m.sync()
    wait(lambda: a.stats()["reconnects"] >= 1 and "b" in a.connected_peers(), what="reconnect")
    a.broadcast(b"after-restart")
    wait(lambda: m.inboxes["b"].has(b"after-restart"), what="frame to the restarted peer")
    m.messengers["b"].broadcast(b"from-new-b")
    wait(lambda: m.inboxes["a"].has(b"from-new-b") and m.inboxes["c"].has(b"from-new-b"))


def _spawn(spec: dict, directory: Path, name: str) -> subprocess.Popen[bytes]:
    peer = Spawned([sys.executable, str(ECHO_PEER), json.dumps(spec)], directory, name)
    try:
        peer.wait_for_line(lambda line: line.strip() == "ready", timeout=30, what="the peer")
    except AssertionError:
        peer.stop(signal.SIGKILL)
        raise
    return peer.proc


def test_killed_peer_process_restarts_and_traffic_resumes(
    mesh, wait, make_context, inbox, port, tmp_path: Path
) -> None:
    names = ["a", "b"]
    addr = {"a": f"tcp://127.0.0.1:{port()}", "b": f"tcp://127.0.0.1:{port()}"}
    a = ZmqMessenger(ZmqOptions(bind=addr["a"], peers={"b": addr["b"]}), make_context(names, "a"))
    got = inbox()
    a.start(got)
    spec = {"names": names, "me": "b", "options": {"bind": addr["b"], "peers": {"a": addr["a"]}}}
    peer = _spawn(spec, tmp_path, "first")
    try:

        def ping(tag: bytes) -> bool:
            a.broadcast(tag)
            time.sleep(0.02)
            return got.has(b"echo:" + tag)

        wait(lambda: ping(b"one"), what="echo from the first peer process")
        peer.send_signal(signal.SIGKILL)
        peer.wait()
        wait(lambda: a.stats()["disconnects"] >= 1, what="the kill to be noticed")
        peer = _spawn(spec, tmp_path, "restarted")
        wait(lambda: ping(b"two"), what="echo from the restarted peer process")
        wait(lambda: a.stats()["reconnects"] >= 1, what="a reconnect to be counted")
        assert a.connected_peers() == {"b"}
    finally:
        peer.kill()
        peer.wait()
        a.close()


def test_port_in_use(make_context, port) -> None:
    p = port()
    holder = socket.socket()
    holder.bind(("127.0.0.1", p))
    holder.listen()
    try:
        m = ZmqMessenger(
            ZmqOptions(bind=f"tcp://127.0.0.1:{p}", peers={"b": "tcp://127.0.0.1:1"}),
            make_context(["a", "b"], "a"),
        )
        with pytest.raises(MessengerError) as err:
            m.start(lambda _d: None)
        assert str(err.value) == f"messenger.bind: tcp://127.0.0.1:{p} is already in use"
        assert threading.active_count() < 50
        with pytest.raises(MessengerError):
            m.broadcast(b"x")
    finally:
        holder.close()


def test_two_messengers_on_one_address(mesh) -> None:
    m = mesh(["a", "b"])
    m.start("a")
    clash = ZmqMessenger(m.options("a"), m.messengers["a"].context)
    with pytest.raises(MessengerError, match=r"is already in use"):
        clash.start(lambda _d: None)


@pytest.mark.parametrize(
    ("peers", "expected"),
    [
        ({"b": "tcp://127.0.0.1:2"}, "messenger.peers: missing member(s) 'c'"),
        (
            {"b": "tcp://h:2", "c": "tcp://h:3", "mallory": "tcp://h:4"},
            "messenger.peers.mallory: not a member of the federation (members: a, b, c)",
        ),
        (
            {"a": "tcp://h:1", "b": "tcp://h:2", "c": "tcp://h:3"},
            "messenger.peers.a: that is this member; list only the others",
        ),
    ],
)
def test_bad_peers_table(make_context, peers, expected) -> None:
    with pytest.raises(ConfigError) as err:
        ZmqMessenger(
            ZmqOptions(bind="tcp://127.0.0.1:1", peers=peers), make_context(["a", "b", "c"], "a")
        )
    assert str(err.value) == expected


def test_bad_addresses_via_loader(make_context) -> None:
    from oceanfed.plugins import load_messenger

    ctx = make_context(["a", "b"], "a")
    with pytest.raises(ConfigError, match=r"^messenger.peers: peer 'b': expected tcp://HOST:PORT"):
        load_messenger(table(driver="zmq", bind="tcp://*:7000", peers={"b": "tcp://*:7000"}), ctx)
    with pytest.raises(ConfigError, match=r"^messenger.bind: expected tcp://HOST:PORT"):
        load_messenger(table(driver="zmq", bind="tcp://h:99999", peers={"b": "tcp://h:1"}), ctx)
    m = load_messenger(table(driver="zmq", bind="tcp://*:7000", peers={"b": "tcp://h:1"}), ctx)
    assert "tcp://*:7000" in m.check()


def test_a_failing_deliver_does_not_stop_the_receiver(mesh, wait, make_context) -> None:
    m = mesh(["a", "b"])
    m.start("a")
    seen: list[bytes] = []

    def deliver(data: bytes, peer: str | None = None) -> None:
        seen.append(data)
        raise RuntimeError("boom")

    b = ZmqMessenger(m.options("b"), make_context(["a", "b"], "b", m.tmp_path))
    b.start(deliver)
    try:

        def two() -> bool:
            m.messengers["a"].broadcast(b"frame")
            time.sleep(0.02)
            return len(seen) >= 2

        wait(two, what="two deliveries despite errors")
    finally:
        b.close()


def test_close_is_clean_and_final(mesh, make_context) -> None:
    m = mesh(["a", "b"])
    m.start_all()
    before = threading.active_count()
    a = m.messengers["a"]
    m.stop("a")
    assert threading.active_count() < before
    with pytest.raises(MessengerError, match="not started, or closed"):
        a.broadcast(b"x")
    a.close()  # closing twice is harmless
    fresh = ZmqMessenger(m.options("a"), make_context(["a", "b"], "a"))
    with pytest.raises(MessengerError, match="not started, or closed"):
        fresh.broadcast(b"x")


def test_latency_figure(make_context, port) -> None:
    """Prints the median one-hop latency on loopback (a figure, not an assertion)."""
    names = ["a", "b"]
    addr = {"a": f"tcp://127.0.0.1:{port()}", "b": f"tcp://127.0.0.1:{port()}"}
    samples: list[float] = []
    arrived = threading.Event()

    def deliver(data: bytes, peer: str | None = None) -> None:
        samples.append(time.perf_counter() - float(data))
        arrived.set()

    a = ZmqMessenger(ZmqOptions(bind=addr["a"], peers={"b": addr["b"]}), make_context(names, "a"))
    b = ZmqMessenger(ZmqOptions(bind=addr["b"], peers={"a": addr["a"]}), make_context(names, "b"))
    a.start(lambda _d, _p=None: None)
    b.start(deliver)
    try:

        def first() -> bool:
            a.broadcast(str(time.perf_counter()).encode())
            return arrived.wait(0.05)

        deadline = time.monotonic() + 10
        while not first():
            assert time.monotonic() < deadline, "no connection"
        samples.clear()
        for _ in range(300):
            arrived.clear()
            a.broadcast(str(time.perf_counter()).encode())
            arrived.wait(1)
    finally:
        a.close()
        b.close()
    samples.sort()
    print(
        f"\nzmq loopback hop: median {samples[len(samples) // 2] * 1e6:.0f} us, "
        f"p99 {samples[int(len(samples) * 0.99)] * 1e6:.0f} us over {len(samples)} frames"
    )
    assert len(samples) == 300


def test_outage_is_the_time_without_any_peer_connection(mesh, wait) -> None:
    m = mesh(["a", "b", "c"])
    a = m.start("a")
    first = a.outage()
    time.sleep(0.2)
    assert first is not None and a.outage() >= first + 0.15  # alone since it started
    m.start("b")
    wait(lambda: a.outage() == 0.0, what="a connected to b")
    m.start("c")
    m.sync()
    m.stop("b")
    wait(lambda: "b" not in a.connected_peers(), what="a to notice b left")
    assert a.outage() == 0.0  # c is still up
    m.stop("c")
    wait(lambda: (a.outage() or 0.0) > 0.0, what="a to notice it is alone")
    alone = a.outage()
    time.sleep(0.2)
    assert alone is not None and (a.outage() or 0.0) >= alone + 0.15
    m.start("c")
    wait(lambda: a.outage() == 0.0, what="a reconnected to c")
