"""Signature variants of FACTS.md's proof table, made from a strict low-S DER signature."""

from __future__ import annotations

from oceanfed.crypto import CURVE_ORDER, decode_der_strict, encode_der


def high_s(sig: bytes) -> bytes:
    """``sig`` with S replaced by n - S: the high-S twin of the same signature."""
    r, s = decode_der_strict(sig)
    return encode_der(r, CURVE_ORDER - s)


def padded_der(sig: bytes) -> bytes:
    """Strict DER ``sig`` with one zero byte more before R than strict DER wants (lax DER)."""
    return bytes([0x30, sig[1] + 1, 0x02, sig[3] + 1, 0x00]) + sig[4:]
