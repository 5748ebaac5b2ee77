"""Hypothesis fuzzing of the message decoder, the header and block codecs, and the machine.

They raise only DecodeError on arbitrary bytes, never anything else, and never hang (each
example has a deadline).
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))

import targets  # noqa: E402

from oceanfed import wire

FUZZ = settings(max_examples=1500, deadline=1000, suppress_health_check=[HealthCheck.too_slow])


def _mutations(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    """Real frames and blocks with a few bytes flipped, cut or inserted."""

    @st.composite
    def mutate(draw: st.DrawFn) -> bytes:
        data = bytearray(draw(st.sampled_from(seeds)))
        rng = random.Random(draw(st.integers(0, 2**32)))
        for _ in range(draw(st.integers(1, 8))):
            op = rng.randrange(4)
            pos = rng.randrange(len(data) + 1)
            if op == 0 and data:
                data[min(pos, len(data) - 1)] ^= 1 << rng.randrange(8)
            elif op == 1:
                del data[pos:pos + rng.randrange(1, 40)]
            elif op == 2:
                data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 12)))
            else:
                # huge and over-long (non-canonical) CompactSizes, a negative int32
                data[pos:pos + 1] = rng.choice([b"\xfd\xff\xff", b"\xfe\xff\xff\xff\xff", b"\xff" * 9,
                                                b"\xfd" + data[pos:pos + 1] + b"\x00",
                                                b"\xff" + data[pos:pos + 1] + bytes(7),
                                                b"\xff\xff\xff\xff"])
        return bytes(data)

    return mutate()


FRAMES = targets.seed_frames()
BLOCKS = targets.seed_blocks() or [bytes(180)]
ANY_FRAME = st.one_of(st.binary(max_size=2048), _mutations(FRAMES),
                      st.binary(max_size=64).map(lambda b: wire.MAGIC + len(b).to_bytes(4, "big") + b))
ANY_BLOCK = st.one_of(st.binary(max_size=4096), _mutations(BLOCKS))
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=80),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(
        st.sampled_from(["block", "vr", "pol", "hash", "sig", "x"]), inner, max_size=5),
    max_leaves=20,
)


@FUZZ
@given(ANY_FRAME)
def test_wire_decoder(data: bytes) -> None:
    targets.target_wire(data)


QUOTED = st.lists(st.sampled_from([b'"', b"\\", b"[", b"]", b"{", b"}", b":", b",", b"ab", b"0" * 50,
                                   b"0" * 5000]), max_size=60).map(b"".join)


@FUZZ
@given(st.one_of(QUOTED, ANY_FRAME, JSONISH.map(lambda v: __import__("json").dumps(v).encode())))
def test_skeleton_is_the_regular_expressions(data: bytes) -> None:
    targets.target_skeleton(data)


def test_skeleton_of_long_bodies() -> None:
    many = b'["' + b'","'.join(b"a" * 8 for _ in range(5000)) + b'"]'
    assert wire.skeleton(many) == wire._STRINGS.sub(b"", many) == b"[" + b"," * 4999 + b"]"
    block = b'{"block":"' + b"00" * 100_000 + b'","vr":-1}'
    assert wire.skeleton(block) == b'{:,:-1}'
    for cut in (block[:-3], block[:20], block + b'"x', b'"' + block):
        assert wire.skeleton(cut) == wire._STRINGS.sub(b"", cut)


@FUZZ
@given(ANY_BLOCK)
def test_header_codec(data: bytes) -> None:
    targets.target_header(data)


@FUZZ
@given(ANY_BLOCK)
def test_block_codec(data: bytes) -> None:
    targets.target_block(data)


@FUZZ
@given(ANY_FRAME)
def test_machine_never_raises_on_bytes(data: bytes) -> None:
    targets.target_machine(data)


@settings(max_examples=600, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(JSONISH)
def test_machine_never_raises_on_signed_garbage(payload: object) -> None:
    import json

    targets.target_signed_payload(json.dumps(payload).encode())


def test_mutated_frames_fail_authentication() -> None:
    """A flipped byte anywhere in a genuine frame is dropped: never accepted as another message."""
    frame = FRAMES[0]
    for i in range(len(frame)):
        bad = bytearray(frame)
        bad[i] ^= 0x01
        with pytest.raises(targets.DecodeError):
            wire.decode(bytes(bad), targets.PUBS, targets.CHAIN)


def test_message_signature_is_not_a_block_signature() -> None:
    """The envelope signs SHA256(domain tag || body): not a header digest, not the body's dsha."""
    import hashlib

    body, sig = wire.split(FRAMES[0])
    pub = targets.KEYS[1].public_key
    assert pub.verify(sig, hashlib.sha256(wire.DOMAIN + body).digest(), hasher=None)
    assert not pub.verify(sig, hashlib.sha256(hashlib.sha256(body).digest()).digest(), hasher=None)
    assert not pub.verify(sig, hashlib.sha256(body).digest(), hasher=None)
