"""What goes into the token and what comes out: mechanism input, r||s to strict
low-S DER, and the check that the result verifies before anyone sees it."""

from __future__ import annotations

import hashlib

from coincurve._libsecp256k1 import ffi, lib
from coincurve.context import GLOBAL_CONTEXT

from oceanfed.crypto import CURVE_ORDER, decode_der_lax, public_key
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


#: the group order, big-endian: a 32-byte r or s below it (and not zero) is in range
_ORDER_BYTES = CURVE_ORDER.to_bytes(32, "big")
_ZERO = bytes(32)


class SignatureFinisher:
    """:func:`finish_signature` for one public key, parsed once: per signature only
    libsecp256k1 calls (parse r||s, normalise to low S, verify, serialise DER).

    The result is the same strict low-S DER, verified the same way, as
    ``encode_der`` then ``PublicKey.verify`` would give; only the Python around them is gone.
    """

    def __init__(self, pubkey: bytes):
        self.pubkey = pubkey
        try:
            self._key = public_key(pubkey).public_key
        except (ValueError, TypeError):
            self._key = None  # nothing verifies against a key that does not parse
        self._ctx = GLOBAL_CONTEXT.ctx

    def __call__(self, raw: bytes, digest: bytes, where: str) -> bytes:
        """Strict low-S DER of the token's ``raw`` signature over ``digest``, verified."""
        if len(raw) == 64:
            r, s = raw[:32], raw[32:]
        else:
            parsed = decode_der_lax(raw)
            if parsed is None:
                raise SignerError(
                    f"{where}: the token returned a malformed signature ({len(raw)} bytes); discarded"
                )
            if not (0 < parsed[0] < CURVE_ORDER and 0 < parsed[1] < CURVE_ORDER):
                raise _out_of_range(where)
            r, s = parsed[0].to_bytes(32, "big"), parsed[1].to_bytes(32, "big")
        if r == _ZERO or s == _ZERO or r >= _ORDER_BYTES or s >= _ORDER_BYTES:
            raise _out_of_range(where)
        ctx = self._ctx
        sig = ffi.new("secp256k1_ecdsa_signature *")
        ok = (self._key is not None and len(digest) == 32
              and lib.secp256k1_ecdsa_signature_parse_compact(ctx, sig, r + s))
        if ok:
            lib.secp256k1_ecdsa_signature_normalize(ctx, sig, sig)  # low S
            ok = lib.secp256k1_ecdsa_verify(ctx, sig, digest, self._key)
        if not ok:
            raise SignerError(
                f"{where}: the token's signature does not verify against public key "
                f"{self.pubkey.hex()}; discarded"
            )
        out = ffi.new("unsigned char[72]")
        size = ffi.new("size_t *", 72)
        lib.secp256k1_ecdsa_signature_serialize_der(ctx, out, size, sig)
        return bytes(ffi.buffer(out, size[0]))


def _out_of_range(where: str) -> SignerError:
    return SignerError(f"{where}: the token returned an out-of-range signature; discarded")


def finish_signature(raw: bytes, pubkey: bytes, digest: bytes, where: str) -> bytes:
    """Turn a token's signature (r||s, or DER from some tokens) into strict low-S DER
    and verify it against ``pubkey``; a bad result is an error, never returned.
    (A signer keeps a :class:`SignatureFinisher` for its key instead.)"""
    return SignatureFinisher(pubkey)(raw, digest, where)
