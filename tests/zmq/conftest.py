"""Fixtures for the ZeroMQ messenger: free ports, meshes of real sockets, CURVE keys."""

from __future__ import annotations

import contextlib
import os
import selectors
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import zmq
from oceanfed.interfaces import MemberInfo, PluginContext
from oceanfed.keyfile import write_secret_file
from oceanfed_zmq.messenger import ZmqMessenger
from oceanfed_zmq.options import ZmqOptions
from testsupport.waiting import Inbox, free_port, wait_until


def members(names: list[str]) -> list[MemberInfo]:
    return [MemberInfo(i, n, b"", b"") for i, n in enumerate(names)]


def context(names: list[str], me: str, base_dir: Path | str = ".") -> PluginContext:
    return PluginContext(
        member_index=names.index(me),
        members=members(names),
        threshold=1,
        chain="ocean_test",
        base_dir=str(base_dir),
    )


class Pumped:
    """A messenger started with ``start_polled`` and pumped by one thread of its own, as the
    driver's loop does: it waits on the messenger's fds, then pumps what was ready (and,
    before it waits, only when :meth:`ZmqMessenger.pump_due` says so)."""

    def __init__(self, messenger: ZmqMessenger, deliver: Inbox) -> None:
        self.messenger = messenger
        self._stop_rx, self._stop_tx = os.pipe()
        self._error: BaseException | None = None
        started = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(deliver, started), daemon=True)
        self.thread.start()
        started.wait(30)
        if self._error is not None:
            self.stop()
            raise self._error

    def _run(self, deliver: Inbox, started: threading.Event) -> None:
        try:
            assert self.messenger.start_polled(deliver)
        except BaseException as exc:
            self._error = exc
            return
        finally:
            started.set()
        selector = selectors.DefaultSelector()
        selector.register(self._stop_rx, selectors.EVENT_READ)
        fds: tuple[int, ...] = ()
        ready: list[int] = []
        while self._stop_rx not in ready:
            # as the driver: with no fd ready, pump only when the messenger says it is due
            pause = self.messenger.pump_due() if not ready else 0.0
            if pause <= 0.0:
                pause = self.messenger.pump(ready)
            if self.messenger.poll_fds() is not fds:
                for fd in fds:
                    with contextlib.suppress(KeyError, ValueError, OSError):
                        selector.unregister(fd)
                fds = self.messenger.poll_fds()
                for fd in fds:
                    selector.register(fd, selectors.EVENT_READ)
            ready = [key.fd for key, _ in selector.select(pause)]
        selector.close()

    def stop(self) -> None:
        """Stop pumping (then the messenger may be closed from any thread)."""
        if self._stop_tx >= 0:
            os.write(self._stop_tx, b"x")
            self.thread.join(10)
            os.close(self._stop_rx)
            os.close(self._stop_tx)
            self._stop_tx = -1


class Mesh:
    """N messengers on loopback, each with an Inbox; closes everything at the end.

    ``polled``: the messengers are started with ``start_polled`` and pumped as the driver's
    loop does, instead of running their own receiver threads."""

    def __init__(self, names: list[str], tmp_path: Path, curve: bool = False, polled: bool = False) -> None:
        self.names = names
        self.polled = polled
        self.pumps: dict[str, Pumped] = {}
        self.tmp_path = tmp_path
        self.addresses = {n: f"tcp://127.0.0.1:{free_port()}" for n in names}
        self.curve_public: dict[str, str] = {}
        if curve:
            for n in names:
                public, secret = zmq.curve_keypair()
                write_secret_file(tmp_path / f"{n}.curve", secret.decode())
                self.curve_public[n] = public.decode()
        self.messengers: dict[str, ZmqMessenger] = {}
        self.inboxes: dict[str, Inbox] = {}

    def options(self, me: str, **extra: object) -> ZmqOptions:
        table: dict[str, object] = {
            "bind": self.addresses[me],
            "peers": {n: a for n, a in self.addresses.items() if n != me},
        }
        if self.curve_public:
            table["curve_secret_key_file"] = f"{me}.curve"
            table["curve_public_keys"] = dict(self.curve_public)
        table.update(extra)
        return ZmqOptions.model_validate(table)

    def start(self, me: str, **extra: object) -> ZmqMessenger:
        m = ZmqMessenger(self.options(me, **extra), context(self.names, me, self.tmp_path))
        inbox = Inbox()
        if self.polled:
            self.pumps[me] = Pumped(m, inbox)
        else:
            m.start(inbox)
        self.messengers[me] = m
        self.inboxes[me] = inbox
        return m

    def start_all(self) -> None:
        for n in self.names:
            self.start(n)

    def stop(self, me: str) -> None:
        pump = self.pumps.pop(me, None)
        if pump is not None:
            pump.stop()
        self.messengers.pop(me).close()

    def sync(self, timeout: float = 10.0) -> None:
        """Wait until every member's subscriptions reach every other member."""

        def all_heard() -> bool:
            for n, m in self.messengers.items():
                m.broadcast(b"sync:" + n.encode())
            time.sleep(0.02)
            return all(
                self.inboxes[r].has(b"sync:" + s.encode())
                for r in self.messengers
                for s in self.messengers
                if r != s
            )

        wait_until(all_heard, timeout, "the mesh to connect")

    def close(self) -> None:
        for pump in self.pumps.values():
            pump.stop()
        self.pumps.clear()
        for m in self.messengers.values():
            m.close()
        self.messengers.clear()


@pytest.fixture(params=["thread", "polled"])
def mesh(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., Mesh]]:
    """Meshes whose messengers receive on their own threads, or (``polled``) on a thread
    that pumps them as the driver's loop does: every mesh test runs both ways."""
    made: list[Mesh] = []

    def make(names: list[str], curve: bool = False) -> Mesh:
        m = Mesh(names, tmp_path, curve, polled=request.param == "polled")
        made.append(m)
        return m

    yield make
    for m in made:
        m.close()


@pytest.fixture
def wait() -> Callable[..., None]:
    return wait_until


@pytest.fixture
def port() -> Callable[[], int]:
    return free_port


@pytest.fixture
def make_context() -> Callable[..., PluginContext]:
    return context


@pytest.fixture
def inbox() -> Callable[[], Inbox]:
    return Inbox
