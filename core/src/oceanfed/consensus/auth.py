"""How the core seals and opens peer messages and checks block signatures.

The real implementation signs every envelope with the member's transport key
(:mod:`oceanfed.wire`) and verifies block signatures with libsecp256k1. The deterministic
simulator substitutes a cheap stand-in with the same interface.
"""

from __future__ import annotations

from typing import Any, Protocol

import coincurve

from oceanfed import crypto, wire


class Authenticator(Protocol):
    def seal(self, height: int, round: int, kind: str, payload: dict[str, Any]) -> bytes:
        """Encode and sign a message from this member."""

    def open(self, data: bytes, floor: int = 0) -> wire.Envelope:
        """Decode and authenticate a frame; raise DecodeError(reason) otherwise, and
        DecodeError("stale") for a frame of a height below ``floor`` without checking
        its signature (the frame is dropped unread: nothing of it is trusted)."""

    def verify_block_sig(self, member: int, digest: bytes, der: bytes) -> bool:
        """Whether ``der`` is member's valid strict low-S signature over ``digest``."""


class Screening(Authenticator, Protocol):
    """An authenticator that can also drop a frame unread when the caller's ``useless``
    says, from the frame's unverified header and payload, that it can change nothing
    (the machine uses it where the authenticator has it)."""

    def open_screened(self, data: bytes, floor: int, useless: wire.Screen) -> wire.Envelope:
        """As :meth:`Authenticator.open`, and DecodeError(reason) without checking the
        signature where ``useless`` gives a reason."""


class WireAuthenticator:
    """Transport-key envelopes (oceanfed.wire) and real ECDSA block-signature checks."""

    def __init__(
        self,
        chain: str,
        me: int,
        transport_key: bytes,
        transport_pubkeys: list[bytes],
        block_pubkeys: list[bytes],
    ):
        self._chain = chain
        self._me = me
        self._key = coincurve.PrivateKey(transport_key)
        self._transport = transport_pubkeys
        self._block = block_pubkeys
        self._verified = wire.VerifiedFrames()
        # our own frames count as verified only if our key is the one the others check
        mine = transport_pubkeys[me] if 0 <= me < len(transport_pubkeys) else b""
        self._own = mine if self._key.public_key.format(compressed=True) == mine else None

    def __repr__(self) -> str:
        return f"WireAuthenticator(chain={self._chain!r}, me={self._me})"

    def seal(self, height: int, round: int, kind: str, payload: dict[str, Any]) -> bytes:
        if self._own is None:
            return wire.encode(self._key, self._chain, self._me, height, round, kind, payload)
        return wire.encode(self._key, self._chain, self._me, height, round, kind, payload,
                           self._verified, self._own)

    def open(self, data: bytes, floor: int = 0) -> wire.Envelope:
        return wire.decode(data, self._transport, self._chain, self._verified, floor)

    def open_screened(self, data: bytes, floor: int, useless: wire.Screen) -> wire.Envelope:
        return wire.decode(data, self._transport, self._chain, self._verified, floor, useless)

    def verify_block_sig(self, member: int, digest: bytes, der: bytes) -> bool:
        return crypto.verify_digest(self._block[member], digest, der)
