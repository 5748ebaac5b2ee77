"""The envelope's limits hold before anything is parsed: size, ASCII, structure, nesting."""

from __future__ import annotations

import hashlib
import json
import sys

import coincurve
import pytest

from oceanfed import wire
from oceanfed.consensus import events as E
from oceanfed.consensus.auth import WireAuthenticator
from oceanfed.consensus.counts import Kind, Tally
from oceanfed.consensus.machine import CoreConfig, Machine
from oceanfed.errors import DecodeError

KEYS = [coincurve.PrivateKey(hashlib.sha256(f"edge-{i}".encode()).digest()) for i in range(3)]
PUBS = [k.public_key.format() for k in KEYS]
CHAIN = "edgenet"


def frame(body: bytes, sig: bytes = b"\x30\x06") -> bytes:
    return wire.MAGIC + len(body).to_bytes(4, "big") + body + sig


def signed(body: bytes, key: coincurve.PrivateKey = KEYS[1]) -> bytes:
    """A frame whose body is ``body`` as it is, signed by ``key`` (any shape of body)."""
    return frame(body, key.sign(hashlib.sha256(wire.DOMAIN + body).digest(), hasher=None))


def nested(depth: int) -> bytes:
    inner = b'{"chain":"edgenet","from":1,"h":1,"r":0,"kind":"prevote","p":{"hash":"ab"}}'
    return b'{"a":' * depth + inner + b"}" * depth


def test_frame_limit_is_the_largest_block_as_hex_plus_the_envelope() -> None:
    assert wire.MAX_BLOCK_BYTES == 4_000_000  # Ocean's MAX_BLOCK_SERIALIZED_SIZE
    assert wire.MAX_FRAME == 2 * wire.MAX_BLOCK_BYTES + wire.ENVELOPE_ALLOWANCE
    assert wire.MAX_FRAME < 8 * 1024 * 1024
    # the largest block, with a proof of lock of 15 prevotes and inflation extras, fits
    vote = wire.encode(KEYS[2], CHAIN, 2, 9, 0, "prevote", {"hash": "ab" * 32}).hex()
    data = wire.encode(
        KEYS[1], CHAIN, 1, 9, 1, "proposal",
        {"block": "00" * wire.MAX_BLOCK_BYTES, "vr": 0, "pol": [vote] * 15,
         "x": {"inflation": {"height": 9, "txs": ["ab" * 2000] * 8}}},
    )
    assert len(data) <= wire.MAX_FRAME
    env = wire.decode(data, PUBS, CHAIN)
    assert len(env.payload["block"]) == 2 * wire.MAX_BLOCK_BYTES
    with pytest.raises(DecodeError, match="^frame too large$"):
        wire.decode(data + b"\x00" * (wire.MAX_FRAME + 1 - len(data)), PUBS, CHAIN)


@pytest.mark.parametrize("depth", [sys.getrecursionlimit() * 2, 100_000])
def test_deeply_nested_json_is_a_decode_error_not_a_recursion_error(depth: int) -> None:
    for data in (frame(nested(depth)), signed(nested(depth)), frame(b"[" * depth + b"]" * depth)):
        with pytest.raises(DecodeError):
            wire.decode(data, PUBS, CHAIN)
        with pytest.raises(DecodeError):
            wire.peek(data)


def test_nesting_is_bounded_before_parsing() -> None:
    ok = nested(wire.MAX_DEPTH - 2)  # the envelope and its payload add two levels
    with pytest.raises(DecodeError, match="lacks chain"):  # parsed: it is only the wrong shape
        wire.decode(signed(ok), PUBS, CHAIN)
    with pytest.raises(DecodeError, match="^frame body nested too deeply$"):
        wire.decode(signed(nested(wire.MAX_DEPTH)), PUBS, CHAIN)
    # brackets inside strings are data, not structure
    body = json.dumps({"chain": CHAIN, "from": 1, "h": 1, "r": 0, "kind": "prevote",
                       "p": {"hash": "[" * 5000 + '\\"{' * 100}}).encode()
    assert wire.decode(signed(body), PUBS, CHAIN).payload["hash"].startswith("[[[")


def test_structure_and_encoding_are_bounded() -> None:
    many = json.dumps({"chain": CHAIN, "from": 1, "h": 1, "r": 0, "kind": "prevote",
                       "p": {"hash": "ab", "x": list(range(20_000))}}).encode()
    with pytest.raises(DecodeError, match="^frame body too complex$"):
        wire.decode(signed(many), PUBS, CHAIN)
    with pytest.raises(DecodeError, match="^frame body is not ASCII JSON$"):
        wire.decode(signed('{"chain":"é"}'.encode()), PUBS, CHAIN)
    with pytest.raises(DecodeError, match="^frame body is not JSON$"):
        wire.decode(signed(b'{"h":' + b"9" * 5000 + b"}"), PUBS, CHAIN)


def test_a_machine_drops_a_nested_frame_and_counts_it() -> None:
    cfg = CoreConfig(me=0, names=["a", "b", "c"], threshold=2, challenge=b"\x51")
    auth = WireAuthenticator(CHAIN, 0, KEYS[0].secret, PUBS, PUBS)
    machine = Machine(cfg, auth)
    machine.handle(E.Received(signed(nested(200_000))), 1.0)
    assert machine.counters[Tally(Kind.DROPPED, "frame body too complex")] == 1


def _at_height_10(monkeypatch: pytest.MonkeyPatch) -> tuple[Machine, list[int]]:
    """A machine deciding height 10, and a list with an item per signature it verifies."""
    cfg = CoreConfig(me=0, names=["a", "b", "c"], threshold=2, challenge=b"\x51")
    machine = Machine(cfg, WireAuthenticator(CHAIN, 0, KEYS[0].secret, PUBS, PUBS))
    machine.start(0.0)
    machine.handle(E.NodeTip(9, "11" * 32), 0.0)
    verified: list[int] = []
    verify = coincurve.PublicKey.verify

    def counting(self: coincurve.PublicKey, sig: bytes, message: bytes, hasher: object = None) -> bool:
        verified.append(1)
        return verify(self, sig, message, hasher=None)

    monkeypatch.setattr(coincurve.PublicKey, "verify", counting)
    return machine, verified


def test_a_stale_frame_is_dropped_before_its_signature_is_checked(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A frame below the machine's height is dropped unread: its signature is never checked,
    and it changes nothing (a forged one makes its named sender look alive no more than a
    real one does)."""
    machine, verified = _at_height_10(monkeypatch)
    assert machine.h is not None and machine.h.height == 10
    vote = {"hash": "ab" * 32}
    real = wire.encode(KEYS[1], CHAIN, 1, 9, 0, "prevote", vote)
    forged = wire.encode(KEYS[2], CHAIN, 1, 9, 0, "precommit", vote)  # names member 1
    for data in (real, forged):
        machine.handle(E.Received(data), 1.0)
    assert machine.counters[Tally(Kind.DROPPED, "stale")] == 2
    assert not verified
    assert machine.peer_seen == {}
    # a frame of the current height is checked: a forged one is refused as such
    machine.handle(E.Received(wire.encode(KEYS[2], CHAIN, 1, 10, 0, "precommit", vote)), 1.0)
    assert machine.counters[Tally(Kind.DROPPED, "bad-signature")] == 1
    assert verified and machine.peer_seen == {}
