"""The signed message envelope that every messenger carries, the same on every transport.

Frame: ``b"OFD1" | u32 body length (big-endian) | body | signature``. The body is compact
JSON ``{"chain", "from", "h", "r", "kind", "p"}`` (chain name, sender index, height, round,
kind, payload). The signature is DER ECDSA by the sender's *transport key* over
``SHA256(DOMAIN || body)``; the domain tag makes it impossible to mistake for a block
signature, which is made by a different key over a header digest.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import coincurve

from oceanfed.crypto import public_key
from oceanfed.errors import DecodeError

MAGIC = b"OFD1"
DOMAIN = b"oceanfed/message/v1\x00"
MAX_FRAME = 8 * 1024 * 1024
KINDS = ("proposal", "prevote", "precommit", "sig")


@dataclass(frozen=True)
class Envelope:
    """A decoded message. ``raw`` is the exact frame, kept for forwarding as evidence."""

    chain: str
    sender: int
    height: int
    round: int
    kind: str
    payload: dict[str, Any]
    raw: bytes = b""


def _digest(body: bytes) -> bytes:
    return hashlib.sha256(DOMAIN + body).digest()


def encode(
    privkey: coincurve.PrivateKey,
    chain: str,
    sender: int,
    height: int,
    round: int,
    kind: str,
    payload: dict[str, Any],
) -> bytes:
    """Build and sign a frame."""
    body = json.dumps(
        {"chain": chain, "from": sender, "h": height, "r": round, "kind": kind, "p": payload},
        separators=(",", ":"),
        sort_keys=True,
    ).encode()
    sig = privkey.sign(_digest(body), hasher=None)
    return MAGIC + len(body).to_bytes(4, "big") + body + sig


def split(data: bytes) -> tuple[bytes, bytes]:
    """Return ``(body, signature)`` of a frame, checking only its shape."""
    if len(data) > MAX_FRAME:
        raise DecodeError("frame too large")
    if len(data) < 8 or data[:4] != MAGIC:
        raise DecodeError("not an oceanfed frame (bad magic)")
    size = int.from_bytes(data[4:8], "big")
    if 8 + size >= len(data):
        raise DecodeError("truncated frame")
    return data[8 : 8 + size], data[8 + size :]


def _parse_body(body: bytes) -> Envelope:
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise DecodeError("frame body is not JSON") from None
    if not isinstance(obj, dict):
        raise DecodeError("frame body is not an object")
    chain, sender, h, r, kind, payload = (
        obj.get("chain"),
        obj.get("from"),
        obj.get("h"),
        obj.get("r"),
        obj.get("kind"),
        obj.get("p"),
    )
    if not isinstance(chain, str) or kind not in KINDS or not isinstance(payload, dict):
        raise DecodeError("frame body lacks chain, kind or payload")
    for name, v in (("from", sender), ("h", h), ("r", r)):
        if type(v) is not int or v < 0 or v > 2**32:
            raise DecodeError(f"frame field {name!r} is not a small non-negative integer")
    return Envelope(chain, sender, h, r, kind, payload)  # type: ignore[arg-type]


def peek(data: bytes) -> Envelope:
    """Decode a frame's header fields *without* checking the signature (for routing)."""
    body, _ = split(data)
    return _parse_body(body)


def decode(data: bytes, transport_keys: list[bytes], chain: str) -> Envelope:
    """Decode and authenticate a frame.

    Raises DecodeError with a short reason (``non-member``, ``bad-signature``,
    ``wrong-chain`` or a shape problem).
    """
    body, sig = split(data)
    env = _parse_body(body)
    if env.chain != chain:
        raise DecodeError("wrong-chain")
    if env.sender >= len(transport_keys):
        raise DecodeError("non-member")
    try:
        ok = public_key(transport_keys[env.sender]).verify(sig, _digest(body), hasher=None)
    except (ValueError, TypeError):
        ok = False
    if not ok:
        raise DecodeError("bad-signature")
    return Envelope(env.chain, env.sender, env.height, env.round, env.kind, env.payload, data)
