"""The UDP messenger on real sockets: options, delivery, stats, errors."""

from __future__ import annotations

import queue
import socket

import pytest
from oceanfed_udp_example.messenger import UdpMessenger, UdpOptions
from pydantic import ValidationError

from oceanfed.config import PluginTable
from oceanfed.errors import MessengerError
from oceanfed.interfaces import MemberInfo, PluginContext
from oceanfed.plugins import load_messenger


def free_udp_ports(n: int) -> list[int]:
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def context(me: int, names: list[str]) -> PluginContext:
    members = [MemberInfo(i, n, bytes([2]) + bytes([i]) * 32, bytes([3]) + bytes([i]) * 32)
               for i, n in enumerate(names)]
    return PluginContext(member_index=me, members=members, threshold=2, chain="ocean_test")


def test_frames_reach_every_peer() -> None:
    names = ["a", "b", "c"]
    ports = free_udp_ports(3)
    addr = {n: f"127.0.0.1:{p}" for n, p in zip(names, ports, strict=True)}
    inboxes: dict[str, queue.Queue[bytes]] = {n: queue.Queue() for n in names}
    messengers = []
    for i, name in enumerate(names):
        table = PluginTable(driver="udp-example", bind=addr[name],
                            peers={n: a for n, a in addr.items() if n != name})
        m = load_messenger(table, context(i, names))  # through the entry point
        assert isinstance(m, UdpMessenger)
        m.start(inboxes[name].put)
        messengers.append(m)
    try:
        messengers[0].broadcast(b"hello")
        assert inboxes["b"].get(timeout=2) == b"hello"
        assert inboxes["c"].get(timeout=2) == b"hello"
        assert inboxes["a"].empty()
        messengers[0].broadcast(b"x" * 70000)  # too large: dropped, counted
        assert messengers[0].stats()["sent"] == 2
        assert messengers[0].stats()["dropped"] == 1
        assert messengers[1].stats()["received"] == 1
    finally:
        for m in messengers:
            m.close()


def test_bad_options_name_the_field() -> None:
    with pytest.raises(ValidationError) as err:
        UdpOptions.model_validate({"bind": "nowhere"})
    assert err.value.errors()[0]["loc"] == ("bind",)
    with pytest.raises(MessengerError, match="messenger.peers: 'zed'"):
        UdpMessenger(UdpOptions(bind="127.0.0.1:1", peers={"zed": "127.0.0.1:2"}), context(0, ["a", "b"]))


def test_bind_conflict_is_a_clear_error() -> None:
    (port,) = free_udp_ports(1)
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    holder.bind(("127.0.0.1", port))
    try:
        m = UdpMessenger(UdpOptions(bind=f"127.0.0.1:{port}"), context(0, ["a"]))
        with pytest.raises(MessengerError, match="messenger.bind: cannot bind"):
            m.start(lambda _data: None)
    finally:
        holder.close()
