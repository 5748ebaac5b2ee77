"""The quick paths of the frame codec decide exactly as the plain ones: a body is read as
``json.loads`` reads it, and the verified-frame cache forgets its oldest entries first."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from oceanfed import wire
from oceanfed.errors import DecodeError

_PIECES = [b"{", b"}", b"[", b"]", b'"', b'"k"', b":", b",", b" ", b"\t", b"\x00", b"\\", b"u",
           b"1", b"-", b".", b"e", b"true", b"null", b"NaN", b"a"]


def _plain(body: bytes) -> tuple[str, Any]:
    try:
        return ("value", json.loads(body))
    except (ValueError, RecursionError):
        return ("refused", None)


def _quick(body: bytes) -> tuple[str, Any]:
    try:
        return ("value", wire._loads(body))
    except DecodeError:
        return ("refused", None)


@given(st.lists(st.sampled_from(_PIECES), max_size=16).map(b"".join))
@example(b'{"a":1}')
@example(b' {"a":1} ')
@example(b'{"a":1}x')
@example('{"chain":"x"}'.encode("utf-16-be"))  # ASCII bytes that json.loads reads as UTF-16
@example('{"chain":"x"}'.encode("utf-32-le"))
def test_a_body_is_read_as_json_loads_reads_it(body: bytes) -> None:
    plain, quick = _plain(body), _quick(body)
    assert repr(quick) == repr(plain)  # repr: NaN is not equal to itself


def test_an_encoded_frame_is_read_back_whole() -> None:
    payload = {"hash": "ab" * 32, "x": {"b": [1, 2], "a": None}}
    body, _ = wire.split(wire.encode(wire.coincurve.PrivateKey(b"\x01" * 32), "net", 2, 7, 1,
                                     "prevote", payload))
    env = wire._parse_body(body)
    assert (env.chain, env.sender, env.height, env.round, env.kind, env.payload) == (
        "net", 2, 7, 1, "prevote", payload)


def test_the_cache_forgets_its_oldest_first() -> None:
    cache = wire.VerifiedFrames(size=3)
    for key in (b"a", b"b", b"c", b"d"):
        cache.add(key)
    assert b"a" not in cache and all(k in cache for k in (b"b", b"c", b"d"))
    cache.add(b"e")
    assert b"b" not in cache and len(cache) == 3
