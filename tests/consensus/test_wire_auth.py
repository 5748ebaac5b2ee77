"""The cheaper paths of opening a frame decide exactly as the full ones: our own frames are
trusted only under our own configured key, and a small body's structure check without its
skeleton refuses exactly what the check with it refuses."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oceanfed import crypto, wire
from oceanfed.consensus.auth import WireAuthenticator
from oceanfed.errors import DecodeError

CHAIN = "authnet"
KEYS = [hashlib.sha256(b"transport-%d" % i).digest() for i in range(3)]
PUBS = [crypto.pubkey_of(k) for k in KEYS]


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Count the signature checks (each parses the signer's key through ``public_key``)."""
    calls: list[bytes] = []
    real = wire.public_key

    def counted(raw: bytes):  # type: ignore[no-untyped-def]
        calls.append(raw)
        return real(raw)

    monkeypatch.setattr(wire, "public_key", counted)
    return calls


def test_our_own_frame_is_not_verified_again(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _counting(monkeypatch)
    auth = WireAuthenticator(CHAIN, 0, KEYS[0], PUBS, PUBS)
    frame = auth.seal(1, 0, "prevote", {"hash": None})
    assert auth.open(frame).sender == 0 and calls == []
    peer = WireAuthenticator(CHAIN, 1, KEYS[1], PUBS, PUBS).seal(1, 0, "prevote", {"hash": None})
    assert auth.open(peer).sender == 1 and calls == [PUBS[1]]


def test_a_key_that_is_not_ours_is_not_trusted(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _counting(monkeypatch)
    # misconfigured: member 0 holds member 1's key, so peers refuse its frames; so does it
    auth = WireAuthenticator(CHAIN, 0, KEYS[1], PUBS, PUBS)
    frame = auth.seal(1, 0, "prevote", {"hash": None})
    with pytest.raises(DecodeError, match="^bad-signature$"):
        auth.open(frame)
    assert calls == [PUBS[0]]


def _reference(body: bytes) -> str | None:
    """The structure check through the skeleton alone (what every body went through)."""
    if not body.isascii():
        return "frame body is not ASCII JSON"
    skeleton = wire.skeleton(body)
    if len(skeleton) > wire.MAX_STRUCTURE:
        return "frame body too complex"
    depth = 0
    for c in skeleton:
        if c in b"[{":
            depth += 1
        elif c in b"]}":
            depth -= 1
        if depth > wire.MAX_DEPTH:
            return "frame body nested too deeply"
    return None


def _outcome(body: bytes) -> str | None:
    try:
        wire.check_structure(body)
    except DecodeError as exc:
        return str(exc)
    return None


@given(st.lists(st.sampled_from([b"[", b"]", b"{", b"}", b'"', b"\\", b"a", b",", b":", b"1"]),
                max_size=80).map(b"".join))
def test_the_small_body_check_is_the_skeleton_check(body: bytes) -> None:
    assert _outcome(body) == _reference(body)


def test_a_deep_body_still_goes_through_the_skeleton() -> None:
    deep = b"[" * (wire.MAX_DEPTH + 1) + b"]" * (wire.MAX_DEPTH + 1)
    assert _outcome(deep) == "frame body nested too deeply"
    quoted = b'["' + b"[" * 40 + b'"]'  # many brackets, all inside a string
    assert _outcome(quoted) is None
