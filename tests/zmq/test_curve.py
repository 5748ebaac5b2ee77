"""CURVE: encrypted, authenticated mesh; strangers get nothing; key configuration errors."""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from pathlib import Path

import pytest

import zmq
from oceanfed.errors import ConfigError
from oceanfed.keyfile import write_secret_file
from oceanfed_zmq.messenger import ZmqMessenger
from oceanfed_zmq.options import ZmqOptions


def test_curve_mesh_exchanges_frames(mesh, wait) -> None:
    m = mesh(["a", "b", "c"], curve=True)
    m.start_all()
    m.sync()
    m.messengers["c"].broadcast(b"secret-ish")
    wait(lambda: m.inboxes["a"].has(b"secret-ish") and m.inboxes["b"].has(b"secret-ish"))
    for n in m.names:
        s = m.messengers[n].stats()
        assert s["peers_connected"] == 2 and s["auth_failures"] == 0
        assert "CURVE" in m.messengers[n].check()


def _subscriber(
    ctx: zmq.Context, address: str, server_key: str | None, keypair: tuple[bytes, bytes] | None
) -> zmq.Socket:
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.RECONNECT_IVL, 50)
    if keypair is not None and server_key is not None:
        public, secret = keypair
        sub.curve_publickey = public
        sub.curve_secretkey = secret
        sub.curve_serverkey = server_key.encode()
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(address)
    return sub


def test_unknown_key_and_plaintext_subscribers_receive_nothing(mesh, wait) -> None:
    m = mesh(["a", "b"], curve=True)
    m.start_all()
    m.sync()
    a = m.messengers["a"]
    ctx = zmq.Context()
    stranger = _subscriber(ctx, m.addresses["a"], m.curve_public["a"], zmq.curve_keypair())
    plain = _subscriber(ctx, m.addresses["a"], None, None)
    # a stranger who stole b's *public* key still lacks b's secret
    impostor = _subscriber(
        ctx,
        m.addresses["a"],
        m.curve_public["a"],
        (m.curve_public["b"].encode(), zmq.curve_keypair()[1]),
    )
    try:
        wait(lambda: a.stats()["auth_failures"] >= 1, what="the stranger to be refused")
        poller = zmq.Poller()
        for s in (stranger, plain, impostor):
            poller.register(s, zmq.POLLIN)
        deadline = time.monotonic() + 1.0
        k = 0
        while time.monotonic() < deadline:
            a.broadcast(b"members-only-%d" % k)
            k += 1
            assert poller.poll(20) == [], "an outsider received a frame"
        assert m.inboxes["b"].has(b"members-only-0") and m.inboxes["b"].has(
            b"members-only-%d" % (k - 1)
        )
    finally:
        for s in (stranger, plain, impostor):
            s.close()
        ctx.term()


def test_refused_subscribers_are_counted_each_and_told_once_a_minute(mesh, wait, caplog) -> None:
    """Anyone who reaches the port can fail a handshake, as often as it likes: each is
    counted, but the warning comes at most once a minute."""
    m = mesh(["a", "b"], curve=True)
    a = m.start("a")
    host, port = m.addresses["a"].removeprefix("tcp://").rsplit(":", 1)
    caplog.set_level(logging.WARNING)
    for _ in range(30):
        with socket.create_connection((host, int(port))) as conn:
            # a ZMTP 3.0 greeting for the NULL mechanism, to a CURVE server
            conn.sendall(b"\xff" + bytes(8) + b"\x7f\x03\x00" + b"NULL".ljust(20, b"\x00") + bytes(32))
            with contextlib.suppress(OSError):
                conn.settimeout(5)
                conn.recv(4096)  # until a drops it
    wait(lambda: a.stats()["auth_failures"] >= 30, what="every refusal counted")
    refused = [r.getMessage() for r in caplog.records if "refused a subscriber" in r.getMessage()]
    assert len(refused) == 1, refused
    assert "(a failed handshake)" in refused[0]


def test_wrong_server_key_for_a_peer_is_counted(mesh, wait, tmp_path: Path) -> None:
    m = mesh(["a", "b"], curve=True)
    m.start("a")
    # b believes in a different key for a: a's PUB is not who b thinks, so b hears nothing
    wrong = dict(m.curve_public)
    wrong["a"] = zmq.curve_keypair()[0].decode()
    b = m.start("b", curve_public_keys=wrong)
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        m.messengers["a"].broadcast(b"hello")
        time.sleep(0.02)
    assert m.inboxes["b"].snapshot() == []
    wait(lambda: b.stats()["handshake_failures"] >= 1, what="b's handshake failure count")
    assert "a" not in b.connected_peers()


@pytest.fixture
def curve_setup(tmp_path: Path, make_context):
    keys = {n: zmq.curve_keypair() for n in ["a", "b"]}
    write_secret_file(tmp_path / "a.curve", keys["a"][1].decode())
    public = {n: k[0].decode() for n, k in keys.items()}

    def build(**over: object) -> ZmqMessenger:
        table: dict[str, object] = {
            "bind": "tcp://127.0.0.1:1",
            "peers": {"b": "tcp://127.0.0.1:2"},
            "curve_secret_key_file": "a.curve",
            "curve_public_keys": public,
        }
        table.update(over)
        return ZmqMessenger(
            ZmqOptions.model_validate(table), make_context(["a", "b"], "a", tmp_path)
        )

    return build, public, tmp_path


def test_curve_configuration_errors(curve_setup) -> None:
    build, public, tmp_path = curve_setup
    build()  # the good configuration loads
    with pytest.raises(
        ConfigError, match=r"^messenger.curve_public_keys: missing member\(s\) 'b'$"
    ):
        build(curve_public_keys={"a": public["a"]})
    with pytest.raises(ConfigError, match=r"^messenger.curve_public_keys.eve: not a member"):
        build(curve_public_keys={**public, "eve": public["b"]})
    with pytest.raises(
        ConfigError, match=r"^messenger.curve_public_keys.a: does not match the key in .*a.curve"
    ):
        build(curve_public_keys={"a": public["b"], "b": public["b"]})
    with pytest.raises(ConfigError, match=r"missing.curve: CURVE secret key file not found"):
        build(curve_secret_key_file="missing.curve")
    (tmp_path / "a.curve").chmod(0o644)
    with pytest.raises(ConfigError, match=r"a.curve: CURVE secret key file has mode 0644"):
        build()
    bad = tmp_path / "bad.curve"
    bad.write_text("too-short\n")
    bad.chmod(0o600)
    with pytest.raises(ConfigError) as err:
        build(curve_secret_key_file="bad.curve")
    assert "malformed CURVE secret key file" in str(err.value) and "too-short" not in str(err.value)
