"""What goes into the token and what comes out: mechanism input, r||s to strict
low-S DER, and the check that the result verifies before anyone sees it."""

from __future__ import annotations

import hashlib

from oceanfed.crypto import CURVE_ORDER, HALF_ORDER, decode_der_lax, encode_der, public_key
from oceanfed.errors import SignerError
from oceanfed.ocean.encoding import dsha256
from oceanfed_pkcs11.p11 import CKM_ECDSA, CKM_ECDSA_SHA256


def mechanism_input(mechanism: int, digest: bytes, preimage: bytes) -> bytes:
    """The data handed to C_Sign so that the token signs ``digest``.

    CKM_ECDSA signs its input as the hash: the double-SHA256 digest itself.
    CKM_ECDSA_SHA256 hashes its input once more, so it gets SHA-256(preimage) and signs
    SHA-256(SHA-256(preimage)), the same digest.
    """
    if len(digest) != 32:
        raise SignerError(f"sign request: digest is {len(digest)} bytes, expected 32")
    if mechanism == CKM_ECDSA:
        return digest
    if mechanism == CKM_ECDSA_SHA256:
        if dsha256(preimage) != digest:
            raise SignerError("sign request: the header preimage does not hash to the digest")
        return hashlib.sha256(preimage).digest()
    raise SignerError(f"unsupported mechanism 0x{mechanism:x}")


def finish_signature(raw: bytes, pubkey: bytes, digest: bytes, where: str) -> bytes:
    """Turn a token's signature (r||s, or DER from some tokens) into strict low-S DER
    and verify it against ``pubkey``; a bad result is an error, never returned.

    The DER is strict and low-S by construction, so it goes straight to libsecp256k1's
    verification with the cached parsed key (no re-parse on the way).
    """
    if len(raw) == 64:
        r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    else:
        parsed = decode_der_lax(raw)
        if parsed is None:
            raise SignerError(
                f"{where}: the token returned a malformed signature ({len(raw)} bytes); discarded"
            )
        r, s = parsed
    if not (0 < r < CURVE_ORDER and 0 < s < CURVE_ORDER):
        raise SignerError(f"{where}: the token returned an out-of-range signature; discarded")
    if s > HALF_ORDER:
        s = CURVE_ORDER - s
    der = encode_der(r, s)
    try:
        ok = public_key(pubkey).verify(der, digest, hasher=None)
    except (ValueError, TypeError):
        ok = False
    if not ok:
        raise SignerError(
            f"{where}: the token's signature does not verify against public key {pubkey.hex()}; discarded"
        )
    return der
