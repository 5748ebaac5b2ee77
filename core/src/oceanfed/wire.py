"""The signed message envelope that every messenger carries, the same on every transport.

Frame: ``b"OFD1" | u32 body length (big-endian) | body | signature``. The last byte of the
magic is the wire version (:data:`VERSION`), and the signature's domain tag names it too
(:data:`DOMAIN`), so a frame of one version can never be read as one of another: a frame
whose magic names another version is refused as ``wrong-version``. The body is compact
JSON ``{"chain", "from", "h", "r", "kind", "p"}`` (chain name, sender index, height, round,
kind, payload). The signature is DER ECDSA by the sender's *transport key* over
``SHA256(DOMAIN || body)``; the domain tag makes it impossible to mistake for a block
signature, which is made by a different key over a header digest.

Limits, checked in this order before anything is parsed (each refusal is a
:class:`~oceanfed.errors.DecodeError` with a short reason, counted by the caller):

* the whole frame is at most :data:`MAX_FRAME` bytes: the largest block Ocean allows
  (``MAX_BLOCK_SERIALIZED_SIZE`` = 4,000,000 bytes, ``src/consensus/consensus.h``), twice
  over as hex in a proposal, plus :data:`ENVELOPE_ALLOWANCE` for the JSON keys, the proof
  of lock, the plugins' extras and the signature;
* the body is ASCII (``json.dumps`` escapes everything else);
* outside its strings the body has at most :data:`MAX_STRUCTURE` bytes and nests at most
  :data:`MAX_DEPTH` arrays or objects deep, so ``json.loads`` can neither recurse nor build
  a huge tree. Only then is the JSON parsed and the signature checked.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import coincurve

from oceanfed.crypto import public_key
from oceanfed.errors import DecodeError

#: the wire version this member speaks
VERSION = 1
_MAGIC_PREFIX = b"OFD"
MAGIC = _MAGIC_PREFIX + b"%d" % VERSION
DOMAIN = b"oceanfed/message/v%d\x00" % VERSION
#: how many verified frames :class:`VerifiedFrames` remembers (about 200 bytes each)
VERIFIED_FRAMES = 4096
#: Ocean's MAX_BLOCK_SERIALIZED_SIZE (src/consensus/consensus.h): no valid block is larger
MAX_BLOCK_BYTES = 4_000_000
#: room for everything in a frame besides the block's hex
ENVELOPE_ALLOWANCE = 256 * 1024
#: the largest frame any transport needs to carry (8,262,144 bytes)
MAX_FRAME = 2 * MAX_BLOCK_BYTES + ENVELOPE_ALLOWANCE
#: how deep arrays and objects may nest in a body (the deepest real one is 6)
MAX_DEPTH = 16
#: bytes of a body outside its strings (keys and numbers): real bodies use a few hundred
MAX_STRUCTURE = 64 * 1024
_STRINGS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
#: :func:`skeleton` cuts bodies longer than this with at most this many quotes itself
_FAST_BODY = 4096
_FAST_QUOTES = 1024
KINDS = ("proposal", "prevote", "precommit", "sig")
#: what :func:`encode` writes a body with: ``json.dumps(..., separators=(",", ":"),
#: sort_keys=True)``, made once rather than per frame
_ENCODE = json.JSONEncoder(separators=(",", ":"), sort_keys=True).encode
#: the C scanner under ``json.loads``, for a body already known to be ASCII (see
#: :func:`_parse_body`: anything it does not take whole goes through ``json.loads``)
_SCAN: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_sha256 = hashlib.sha256


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
    h = _sha256(DOMAIN)
    h.update(body)  # not DOMAIN + body: no copy of a body that may be megabytes
    return h.digest()


def encode(
    privkey: coincurve.PrivateKey,
    chain: str,
    sender: int,
    height: int,
    round: int,
    kind: str,
    payload: dict[str, Any],
    verified: VerifiedFrames | None = None,
    pubkey: bytes = b"",
) -> bytes:
    """Build and sign a frame. With ``verified``, the frame is remembered there as verified
    under ``pubkey`` (which must be ``privkey``'s): our own frames, gossiped back to us, are
    not verified again."""
    body = _ENCODE(
        {"chain": chain, "from": sender, "h": height, "r": round, "kind": kind, "p": payload}
    ).encode()
    digest = _digest(body)
    sig = privkey.sign(digest, hasher=None)
    if verified is not None:
        verified.add(pubkey + digest + sig)
    return MAGIC + len(body).to_bytes(4, "big") + body + sig


def version_of(data: bytes) -> str | None:
    """The wire version a frame's magic names (``"1"`` for ``OFD1``; a byte that is not
    printable as ``0x..``), or None if it does not start like an oceanfed frame."""
    if len(data) < 8 or data[:3] != _MAGIC_PREFIX:
        return None
    b = data[3]
    return chr(b) if 0x21 <= b < 0x7F else f"0x{b:02x}"


def split(data: bytes) -> tuple[bytes, bytes]:
    """Return ``(body, signature)`` of a frame, checking only its shape."""
    if len(data) > MAX_FRAME:
        raise DecodeError("frame too large")
    if len(data) < 8 or data[:4] != MAGIC:
        if version_of(data) is not None:
            raise DecodeError("wrong-version")
        raise DecodeError("not an oceanfed frame (bad magic)")
    size = int.from_bytes(data[4:8], "big")
    if 8 + size >= len(data):
        raise DecodeError("truncated frame")
    return data[8 : 8 + size], data[8 + size :]


def skeleton(body: bytes) -> bytes:
    """``body`` without its JSON strings (quotes included): its keys' and values' structure.

    A long body without backslashes and with few quotes (a proposal: a block's hex, names
    and numbers) is cut at its quotes, as exactly as and much faster than the regular
    expression (which takes 4 ms over a 1 MB block's hex); any other body goes through the
    regular expression.
    """
    if len(body) <= _FAST_BODY or b"\\" in body or body.count(b'"') > _FAST_QUOTES:
        return _STRINGS.sub(b"", body)
    outside = []
    pos = 0
    while True:
        start = body.find(b'"', pos)
        end = body.find(b'"', start + 1) if start >= 0 else -1
        if end < 0:  # no string left (an unmatched quote opens none: it and the rest stay)
            outside.append(body[pos:])
            return b"".join(outside)
        outside.append(body[pos:start])
        pos = end + 1


def check_structure(body: bytes) -> None:
    """Refuse a body that is not ASCII, or too large or too deep outside its strings,
    without parsing it (so that ``json.loads`` can neither recurse deeply nor build a
    large tree of small objects).

    A body no longer than :data:`MAX_STRUCTURE` with at most :data:`MAX_DEPTH` opening
    brackets in all (a vote, a SIG) passes without its skeleton: its skeleton, a part of it,
    can be neither longer nor deeper."""
    if not body.isascii():
        raise DecodeError("frame body is not ASCII JSON")
    if len(body) <= MAX_STRUCTURE and body.count(b"{") + body.count(b"[") <= MAX_DEPTH:
        return
    skeleton_ = skeleton(body)
    if len(skeleton_) > MAX_STRUCTURE:
        raise DecodeError("frame body too complex")
    depth = 0
    for c in skeleton_.translate(None, _NOT_BRACKETS):
        depth += 1 if c in b"[{" else -1
        if depth > MAX_DEPTH:
            raise DecodeError("frame body nested too deeply")


def _loads(body: bytes) -> Any:
    """``json.loads(body)`` of an ASCII body: the C scanner straight away where it takes the
    whole body (what :func:`encode` writes), else ``json.loads(body)`` itself, which then
    decides (whitespace around the value, another encoding, or the error)."""
    text = body.decode("ascii")
    try:
        obj, end = _SCAN(text, 0)
    except (StopIteration, ValueError, RecursionError):
        end = -1
    if end != len(text):
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            raise DecodeError("frame body is not JSON") from None
    return obj


def _small(v: Any) -> bool:
    return type(v) is int and 0 <= v <= 2**32


def _parse_body(body: bytes) -> Envelope:
    check_structure(body)
    obj = _loads(body)
    if type(obj) is not dict:
        raise DecodeError("frame body is not an object")
    get = obj.get
    chain, sender, h, r, kind, payload = get("chain"), get("from"), get("h"), get("r"), get("kind"), get("p")
    if type(chain) is not str or kind not in KINDS or type(payload) is not dict:
        raise DecodeError("frame body lacks chain, kind or payload")
    if not (_small(sender) and _small(h) and _small(r)):
        for name, v in (("from", sender), ("h", h), ("r", r)):
            if not _small(v):
                raise DecodeError(f"frame field {name!r} is not a small non-negative integer")
    return Envelope(chain, sender, h, r, kind, payload)  # type: ignore[arg-type]


def peek(data: bytes) -> Envelope:
    """Decode a frame's header fields *without* checking the signature (for routing)."""
    body, _ = split(data)
    return _parse_body(body)


class VerifiedFrames:
    """The signatures already verified, so that a repeat of a frame (gossip, a vote inside
    a proof of lock) skips the signature check; every other check still runs.

    Keyed by the signer's key, the digest of the body and the signature bytes: a frame with
    the same body and another signature is verified afresh. Holds at most ``size`` entries,
    forgetting the oldest first.
    """

    def __init__(self, size: int = VERIFIED_FRAMES):
        self.size = size
        # ordered, so the oldest goes in O(1) (deleting a plain dict's first key leaves a
        # hole that every later look for the first key walks past)
        self._keys: OrderedDict[bytes, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: bytes) -> bool:
        return key in self._keys

    def add(self, key: bytes) -> None:
        keys = self._keys
        if len(keys) >= self.size:
            keys.popitem(last=False)
        keys[key] = None


#: says why a frame, judged from its unverified header and payload, can change nothing and
#: is dropped unread (None: it may matter, check it)
Screen = Callable[[Envelope], "str | None"]


def decode(
    data: bytes, transport_keys: list[bytes], chain: str, verified: VerifiedFrames | None = None,
    floor: int = 0, useless: Screen | None = None,
) -> Envelope:
    """Decode and authenticate a frame.

    Raises DecodeError with a short reason (``non-member``, ``bad-signature``,
    ``wrong-chain``, ``wrong-version``, ``stale`` or a shape problem). With ``verified`` (one
    per ``transport_keys``), a signature verified before is not verified again. A frame of a
    height below ``floor`` is refused as ``stale`` before its signature is checked: it would
    be dropped anyway, and nothing of it is trusted. Likewise a frame for which ``useless``
    gives a reason is refused with that reason, unverified.
    """
    body, sig = split(data)
    env = _parse_body(body)
    # the frame joins the envelope before anyone else sees it (not built a second time)
    object.__setattr__(env, "raw", data)
    if env.chain != chain:
        raise DecodeError("wrong-chain")
    if env.sender >= len(transport_keys):
        raise DecodeError("non-member")
    if env.height < floor:
        raise DecodeError("stale")
    if useless is not None:
        reason = useless(env)
        if reason is not None:
            raise DecodeError(reason)
    pubkey = transport_keys[env.sender]
    digest = _digest(body)
    key = pubkey + digest + sig
    if verified is None or key not in verified:
        try:
            ok = public_key(pubkey).verify(sig, digest, hasher=None)
        except (ValueError, TypeError):
            ok = False
        if not ok:
            raise DecodeError("bad-signature")
        if verified is not None:
            verified.add(key)
    return env
