"""secp256k1 ECDSA as Ocean uses it: compressed pubkeys, DER, low-S, scriptSig wrapping.

Signing and verification go through coincurve (libsecp256k1). DER parsing for the node's
lax proof check mirrors ``pubkey.cpp`` (loose DER, S normalised) and is Ocean-specific.
"""

from __future__ import annotations

from functools import lru_cache

import coincurve

from oceanfed.errors import DecodeError
from oceanfed.ocean.encoding import push_data

#: Order of the secp256k1 group.
CURVE_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
HALF_ORDER = CURVE_ORDER // 2


@lru_cache(maxsize=1024)
def public_key(raw: bytes) -> coincurve.PublicKey:
    """A parsed public key, cached: members' keys are verified against thousands of times."""
    return coincurve.PublicKey(raw)


def parse_pubkey(value: str | bytes) -> bytes:
    """Return the 33-byte compressed form of a hex or raw secp256k1 public key.

    Raises ValueError naming what was wrong.
    """
    if isinstance(value, str):
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raise ValueError("a public key must be hex") from None
    else:
        raw = value
    if len(raw) not in (33, 65):
        raise ValueError(f"a public key is 33 bytes compressed (66 hex chars), got {len(raw)} bytes")
    try:
        return coincurve.PublicKey(raw).format(compressed=True)
    except ValueError:
        raise ValueError("not a point on secp256k1") from None


def pubkey_of(privkey: bytes) -> bytes:
    """Compressed public key of a 32-byte private key."""
    return coincurve.PrivateKey(privkey).public_key.format(compressed=True)


def encode_der(r: int, s: int) -> bytes:
    """Strict DER encoding of ``(r, s)``."""

    def integer(v: int) -> bytes:
        b = v.to_bytes((v.bit_length() + 7) // 8 or 1, "big")
        if b[0] & 0x80:
            b = b"\x00" + b
        return b"\x02" + bytes([len(b)]) + b

    body = integer(r) + integer(s)
    return b"\x30" + bytes([len(body)]) + body


def decode_der_strict(sig: bytes) -> tuple[int, int]:
    """Parse a strict DER ECDSA signature (BIP66 shape), raising DecodeError."""
    if len(sig) < 8 or len(sig) > 72 or sig[0] != 0x30 or sig[1] != len(sig) - 2:
        raise DecodeError("not a strict DER signature")
    if sig[2] != 0x02:
        raise DecodeError("not a strict DER signature")
    rlen = sig[3]
    if rlen == 0 or 5 + rlen >= len(sig) or sig[4 + rlen] != 0x02:
        raise DecodeError("not a strict DER signature")
    slen = sig[5 + rlen]
    if slen == 0 or 6 + rlen + slen != len(sig):
        raise DecodeError("not a strict DER signature")
    rb = sig[4 : 4 + rlen]
    sb = sig[6 + rlen :]
    for part in (rb, sb):
        if part[0] & 0x80 or (len(part) > 1 and part[0] == 0 and not part[1] & 0x80):
            raise DecodeError("not a strict DER signature")
    return int.from_bytes(rb, "big"), int.from_bytes(sb, "big")


def decode_der_lax(sig: bytes) -> tuple[int, int] | None:
    """Parse DER loosely, as libsecp256k1's ``ecdsa_signature_parse_der_lax`` does.

    Returns None where even the lax parser gives up. Values that overflow are returned
    as 0, which then fails verification, as in the node.
    """
    pos = 0
    n = len(sig)

    def length() -> int | None:
        nonlocal pos
        if pos >= n:
            return None
        first = sig[pos]
        pos += 1
        if first & 0x80:
            count = first & 0x7F
            if count > n - pos:
                return None
            while count and sig[pos] == 0:
                pos += 1
                count -= 1
            if count >= 8:
                return None
            value = 0
            for _ in range(count):
                value = (value << 8) | sig[pos]
                pos += 1
            return value
        return first

    if pos == n or sig[pos] != 0x30:
        return None
    pos += 1
    if length() is None:
        return None
    values: list[int] = []
    for _ in range(2):
        if pos == n or sig[pos] != 0x02:
            return None
        pos += 1
        size = length()
        if size is None or size > n - pos:
            return None
        digits = sig[pos : pos + size]
        pos += size
        digits = digits.lstrip(b"\x00")
        v = int.from_bytes(digits, "big") if len(digits) <= 32 else 0
        values.append(v if v < CURVE_ORDER else 0)
    return values[0], values[1]


def normalize_s(r: int, s: int) -> tuple[int, int]:
    return (r, CURVE_ORDER - s) if s > HALF_ORDER else (r, s)


def to_low_s_der(sig: bytes) -> bytes:
    """Re-encode any parseable DER signature as strict DER with low S."""
    parsed = decode_der_lax(sig)
    if parsed is None:
        raise DecodeError("not a DER signature")
    return encode_der(*normalize_s(*parsed))


def sign_digest(privkey: bytes, digest: bytes) -> bytes:
    """RFC 6979 ECDSA over a 32-byte digest: strict DER, low S (as ``signblock`` does)."""
    if len(digest) != 32:
        raise ValueError("digest must be 32 bytes")
    return coincurve.PrivateKey(privkey).sign(digest, hasher=None)


def lax_der_to_strict(der: bytes) -> bytes | None:
    """A signature read as the node reads it (loose DER, S made low) and re-encoded as
    strict DER; None when it does not parse or R or S is zero."""
    parsed = decode_der_lax(der)
    if parsed is None:
        return None
    r, s = normalize_s(*parsed)
    if r == 0 or s == 0:
        return None
    return encode_der(r, s)


def verify_digest(pubkey: bytes, digest: bytes, der: bytes, *, lax: bool = False) -> bool:
    """Verify a DER signature over a raw 32-byte digest.

    Strict mode (our own checks) wants strict DER and low S. Lax mode is the node's proof
    check: loose DER with S normalised.
    """
    if lax:
        normalized = lax_der_to_strict(der)
        if normalized is None:
            return False
        der = normalized
    else:
        try:
            _, s = decode_der_strict(der)
        except DecodeError:
            return False
        if s > HALF_ORDER:
            return False
    try:
        return public_key(pubkey).verify(der, digest, hasher=None)
    except (ValueError, TypeError):
        return False


def wrap_scriptsig(der: bytes) -> bytes:
    """A block-signature scriptSig as ``signblock`` returns it: OP_0 then push(DER)."""
    return b"\x00" + push_data(der)


def unwrap_scriptsig(scriptsig: bytes) -> bytes:
    """The DER signature inside an ``OP_0 push(DER)`` scriptSig; DecodeError otherwise."""
    if len(scriptsig) < 3 or scriptsig[0] != 0 or scriptsig[1] != len(scriptsig) - 2:
        raise DecodeError("a block signature is OP_0 followed by one push of a DER signature")
    return scriptsig[2:]
