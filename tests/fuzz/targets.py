"""Fuzz targets shared by the hypothesis tests and the atheris runner.

Each target takes arbitrary bytes and may raise only :class:`DecodeError` (our own decode
error); anything else is a bug. ``machine`` feeds the bytes to a consensus machine, which
must never raise at all.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable

import coincurve

from oceanfed import wire
from oceanfed.consensus import events as E
from oceanfed.consensus.auth import WireAuthenticator
from oceanfed.consensus.blocks import describe
from oceanfed.consensus.machine import CoreConfig, Machine
from oceanfed.errors import DecodeError
from oceanfed.ocean.block import Block
from oceanfed.ocean.header import BlockHeader
from testsupport.vectors import find_vectors

CHAIN = "fuzznet"
KEYS = [coincurve.PrivateKey(hashlib.sha256(f"fuzz-{i}".encode()).digest()) for i in range(4)]
PUBS = [k.public_key.format() for k in KEYS]
VECTORS = find_vectors() / "chain"


def seed_blocks() -> list[bytes]:
    """Real blocks from the vectors, as a starting corpus (empty if they are not here)."""
    if not VECTORS.is_dir():
        return []
    return [bytes.fromhex(p.read_text().strip()) for p in sorted(VECTORS.glob("*.blockhex"))[:8]]


def seed_frames() -> list[bytes]:
    frames = [wire.encode(KEYS[1], CHAIN, 1, 5, 0, "prevote", {"hash": "ab" * 32}),
              wire.encode(KEYS[2], CHAIN, 2, 5, 1, "sig", {"hash": "cd" * 32, "sig": "3006"})]
    for raw in seed_blocks()[:2]:
        frames.append(wire.encode(KEYS[1], CHAIN, 1, 5, 0, "proposal",
                                  {"block": raw.hex(), "vr": -1, "pol": [frames[0].hex()]}))
    return frames


def target_wire(data: bytes) -> None:
    try:
        env = wire.decode(data, PUBS, CHAIN)
    except DecodeError:
        pass
    else:
        assert env.raw == data and 0 <= env.sender < len(PUBS)
    with contextlib.suppress(DecodeError):
        wire.peek(data)


def target_skeleton(data: bytes) -> None:
    """The quick cut of a body at its quotes finds exactly what the regular expression finds."""
    assert wire.skeleton(data) == wire._STRINGS.sub(b"", data)


def target_signed_payload(data: bytes) -> None:
    """Arbitrary JSON-ish payloads under a *valid* member signature (a dishonest member)."""
    try:
        payload = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        payload = {"block": data.hex(), "vr": len(data) % 3 - 1, "pol": [data.hex()]}
    if not isinstance(payload, dict):
        payload = {"hash": payload, "sig": payload, "block": payload, "pol": payload, "vr": payload}
    m = _machine()
    for kind in wire.KINDS:
        frame = wire.encode(KEYS[1], CHAIN, 1, 1, 0, kind, payload)
        m.handle(E.Received(frame), 1.0)


def target_header(data: bytes) -> None:
    try:
        header = BlockHeader.from_bytes(data)
    except DecodeError:
        return
    assert BlockHeader.from_bytes(header.serialize()) == header


def target_block(data: bytes) -> None:
    try:
        block = Block.from_bytes(data)
    except DecodeError:
        pass
    else:
        assert block.serialize() == data
    with contextlib.suppress(DecodeError):
        describe(data.hex())


_MACHINE: list[Machine] = []


def _machine() -> Machine:
    if not _MACHINE:
        cfg = CoreConfig(me=0, names=["a", "b", "c", "d"], threshold=3, challenge=b"\x51")
        auth = WireAuthenticator(CHAIN, 0, KEYS[0].secret, PUBS, PUBS)
        m = Machine(cfg, auth)
        m.start(0.0)
        m.handle(E.NodeTip(0, "00" * 32), 0.0)
        _MACHINE.append(m)
    return _MACHINE[0]


def target_machine(data: bytes) -> None:
    """Raw bytes into a running machine: it drops them and counts, it never raises."""
    m = _machine()
    m.handle(E.Received(data), 1.0)
    m.handle(E.Tick(), 2.0)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "wire": target_wire,
    "skeleton": target_skeleton,
    "signed-payload": target_signed_payload,
    "header": target_header,
    "block": target_block,
    "machine": target_machine,
}
