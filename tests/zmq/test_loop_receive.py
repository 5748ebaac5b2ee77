"""Receiving on the driver's loop thread (``Messenger.start_polled``): frames arrive, named
by peer, within the same inbox budgets as from a receiver thread, and other threads' events
wake the loop where it waits on the messenger's sockets."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Collection, Iterator

import pytest

import zmq
from oceanfed import wire
from oceanfed.consensus import events as E
from oceanfed.driver import Driver, _Frame
from oceanfed.interfaces import Deliver, Messenger, PluginContext
from oceanfed_zmq.messenger import ZmqMessenger
from oceanfed_zmq.options import ZmqOptions
from testsupport.member import Member
from testsupport.waiting import free_port


def _junk(size: int, tag: bytes) -> bytes:
    """A frame of our wire version that is no valid envelope (the driver queues it)."""
    return wire.MAGIC + tag + b"." * (size - len(wire.MAGIC) - len(tag))


@pytest.fixture
def polled_driver(make_context: Callable[..., PluginContext]) -> Iterator[tuple[Driver, zmq.Socket]]:  # type: ignore[type-arg]
    """m0's driver with a zmq messenger started on this thread; a plain PUB holds m1's
    address (as a stranger could) and sends what the test wants."""
    member = Member()
    names = member.cfg.names
    addresses = {n: f"tcp://127.0.0.1:{free_port()}" for n in names}
    options = ZmqOptions.model_validate(
        {"bind": addresses["m0"], "peers": {n: a for n, a in addresses.items() if n != "m0"}}
    )
    messenger = ZmqMessenger(options, make_context(names, "m0"))
    driver = Driver(member.machine, node=None, signer=None, messenger=messenger,  # type: ignore[arg-type]
                    store=None, inbox_peer_bytes=2500)
    ctx = zmq.Context()
    stranger = ctx.socket(zmq.PUB)
    stranger.setsockopt(zmq.LINGER, 0)
    stranger.bind(addresses["m1"])
    driver._start_messenger()
    try:
        yield driver, stranger
    finally:
        stranger.close(0)
        ctx.term()
        driver.close()


def test_frames_arrive_on_the_loop_thread_within_the_inbox_budget(polled_driver) -> None:  # type: ignore[no-untyped-def]
    driver, stranger = polled_driver
    assert driver._selector is not None, "the zmq messenger is not received on the loop thread"
    assert not [t.name for t in threading.enumerate() if t.name.startswith("zmq-recv")]
    # until m0 is subscribed, small probes (each read and let go, as the loop does)
    deadline = time.monotonic() + 30
    probes = 0
    while probes == 0:
        assert time.monotonic() < deadline, "m0 never heard m1's address"
        stranger.send(_junk(40, b"probe"))
        event = driver._next_event(0.05)
        while isinstance(event, _Frame):
            assert event.peer == "m1"
            probes += 1
            driver._on_frame(event)
            event = driver._next_event(0.0)
    # ten frames of 1000 bytes, none handled: the budget of 2500 bytes for m1 takes two
    for i in range(10):
        stranger.send(_junk(1000, b"bulk%d" % i))
    kept: list[_Frame] = []
    deadline = time.monotonic() + 30

    def full() -> int:
        return driver.drops.counts().get(("m1", "inbox-full"), 0)

    while len(kept) + full() < 10:
        assert time.monotonic() < deadline, (len(kept), driver.drops.counts())
        event = driver._next_event(0.05)
        if isinstance(event, _Frame):
            if b"probe" in event.event.data:  # a straggler of the first phase
                driver._on_frame(event)
            else:
                kept.append(event)
    assert [f.event.data[len(wire.MAGIC):][:5] for f in kept] == [b"bulk0", b"bulk1"]
    assert {f.peer for f in kept} == {"m1"}
    assert full() == 8
    assert driver.inbox_usage() == {"m1": 2000}


class UdpMessenger(Messenger):
    """The polled messenger of docs/plugins.md: one UDP socket, received on the loop."""

    def start(self, deliver: Deliver) -> None:
        raise AssertionError("the driver starts a polled messenger with start_polled")

    def start_polled(self, deliver: Deliver) -> bool:
        self._deliver = deliver
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.setblocking(False)
        self._fds = (self._sock.fileno(),)
        return True

    def poll_fds(self) -> tuple[int, ...]:
        return self._fds

    def pump(self, ready: Collection[int] = ()) -> float:
        while True:
            try:
                data = self._sock.recv(65536)
            except BlockingIOError:
                return 3600.0  # nothing else to do until the socket is readable
            self._deliver(data, "m1")

    def broadcast(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        self._sock.close()


def test_other_threads_wake_the_loop_waiting_on_a_messenger(
    make_context: Callable[..., PluginContext],
) -> None:
    member = Member()
    messenger = UdpMessenger(None, make_context(member.cfg.names, "m0"))  # type: ignore[arg-type]
    driver = Driver(member.machine, node=None, signer=None, messenger=messenger,  # type: ignore[arg-type]
                    store=None)
    driver._start_messenger()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
            peer.sendto(_junk(100, b"udp"), messenger._sock.getsockname())
            event = driver._next_event(60)
        assert isinstance(event, _Frame) and event.event.data == _junk(100, b"udp")
        assert event.peer == "m1"
        driver._on_frame(event)
        # an event another thread posts while the loop waits (the messenger asked for an
        # hour): without the wake-up, a Tick would come back 30 s later instead
        posted = E.NodeTip(7, "00" * 32)
        timer = threading.Timer(0.2, driver.inbox.put, [posted])
        timer.start()
        assert driver._next_event(30) is posted
        timer.join()
        assert isinstance(driver._next_event(0.01), E.Tick)
    finally:
        driver.close()


def test_a_send_that_finds_subscriptions_waiting_makes_the_next_pump_due_at_once(
    make_context: Callable[..., PluginContext],
) -> None:
    """A send can take the PUB socket's readable edge (libzmq's FD is edge-triggered), so a
    send that finds subscriptions waiting asks for a pump before the loop waits (otherwise
    they would wait for the next tick); a send that finds none asks for no pump."""
    names = ["m0", "m1", "m2"]
    addresses = {n: f"tcp://127.0.0.1:{free_port()}" for n in names}
    options = ZmqOptions.model_validate(
        {"bind": addresses["m0"], "peers": {n: a for n, a in addresses.items() if n != "m0"}}
    )
    messenger = ZmqMessenger(options, make_context(names, "m0"))
    assert messenger.start_polled(lambda data, peer=None: None)
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    try:
        deadline = time.monotonic() + 10
        while messenger.pump_due() <= 0.0:  # settle: nothing pending, the tick ahead
            assert time.monotonic() < deadline, "the messenger never settled"
            messenger.pump(())
        messenger.broadcast(b"frame")
        assert messenger.pump_due() > 0.0, "a send that found no subscription asked for a pump"
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(addresses["m0"])
        # nothing pumps meanwhile: only the sends can find the subscription
        while messenger.pump_due() != 0.0:
            assert time.monotonic() < deadline, "no send found the subscription waiting"
            messenger.broadcast(b"frame")
            time.sleep(0.005)
        messenger.pump(())  # serves it: the subscriber hears what is sent from now on
        messenger.broadcast(b"hello")
        assert sub.poll(10_000), "the subscription was not served"
        assert sub.recv() == b"hello"
    finally:
        sub.close(0)
        ctx.term()
        messenger.close()
