"""Fixtures for the ZeroMQ messenger: free ports, meshes of real sockets, CURVE keys."""

from __future__ import annotations

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


class Mesh:
    """N messengers on loopback, each with an Inbox; closes everything at the end."""

    def __init__(self, names: list[str], tmp_path: Path, curve: bool = False) -> None:
        self.names = names
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
        m.start(inbox)
        self.messengers[me] = m
        self.inboxes[me] = inbox
        return m

    def start_all(self) -> None:
        for n in self.names:
            self.start(n)

    def stop(self, me: str) -> None:
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
        for m in self.messengers.values():
            m.close()
        self.messengers.clear()


@pytest.fixture
def mesh(tmp_path: Path) -> Iterator[Callable[..., Mesh]]:
    made: list[Mesh] = []

    def make(names: list[str], curve: bool = False) -> Mesh:
        m = Mesh(names, tmp_path, curve)
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
