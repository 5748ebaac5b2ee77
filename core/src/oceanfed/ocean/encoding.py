"""Bitcoin-style primitive encodings used by Ocean: CompactSize, pushes, hashes."""

from __future__ import annotations

import hashlib

from oceanfed.errors import DecodeError


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def dsha256(data: bytes) -> bytes:
    """Double SHA-256, as used for block hashes and txids (internal byte order)."""
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def hash160(data: bytes) -> bytes:
    return hashlib.new("ripemd160", hashlib.sha256(data).digest()).digest()


def compact_size(n: int) -> bytes:
    """Encode ``n`` as a Bitcoin CompactSize."""
    if n < 0:
        raise ValueError("CompactSize cannot be negative")
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + n.to_bytes(2, "little")
    if n <= 0xFFFFFFFF:
        return b"\xfe" + n.to_bytes(4, "little")
    return b"\xff" + n.to_bytes(8, "little")


class Reader:
    """A cursor over bytes that raises :class:`DecodeError` on truncation."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0):
        self.data = data
        self.pos = pos

    def read(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise DecodeError(f"truncated data: wanted {n} bytes at offset {self.pos}")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.read(1)[0]

    def u32(self) -> int:
        return int.from_bytes(self.read(4), "little")

    def i32(self) -> int:
        return int.from_bytes(self.read(4), "little", signed=True)

    def u64(self) -> int:
        return int.from_bytes(self.read(8), "little")

    def compact_size(self) -> int:
        """Read a CompactSize; a non-canonical (over-long) encoding is refused, as the node does."""
        at = self.pos
        first = self.u8()
        if first < 0xFD:
            return first
        width, least = {0xFD: (2, 0xFD), 0xFE: (4, 0x10000)}.get(first, (8, 0x100000000))
        n = int.from_bytes(self.read(width), "little")
        if n < least:
            raise DecodeError(f"non-canonical CompactSize at offset {at}")
        return n

    def var_bytes(self) -> bytes:
        return self.read(self.compact_size())

    def at_end(self) -> bool:
        return self.pos == len(self.data)

    def expect_end(self, what: str) -> None:
        """DecodeError ``"<what>: N trailing bytes"`` unless every byte was read."""
        if not self.at_end():
            raise DecodeError(f"{what}: {len(self.data) - self.pos} trailing bytes")


def hex_bytes(text: str, what: str) -> bytes:
    """``bytes.fromhex(text)``, or DecodeError ``"<what>: not hex"``."""
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise DecodeError(f"{what}: not hex") from None


def push_data(data: bytes) -> bytes:
    """The minimal script push of ``data`` (OP_PUSHBYTES / PUSHDATA1/2/4)."""
    n = len(data)
    if n < 0x4C:
        return bytes([n]) + data
    if n <= 0xFF:
        return b"\x4c" + bytes([n]) + data
    if n <= 0xFFFF:
        return b"\x4d" + n.to_bytes(2, "little") + data
    return b"\x4e" + n.to_bytes(4, "little") + data
