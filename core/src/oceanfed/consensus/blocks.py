"""What the core needs to know about a proposed block, from the Ocean codec."""

from __future__ import annotations

from dataclasses import dataclass

from oceanfed.errors import DecodeError
from oceanfed.ocean.encoding import Reader, dsha256
from oceanfed.ocean.header import BlockHeader
from oceanfed.ocean.proof import build_solution


@dataclass(frozen=True)
class BlockInfo:
    block_hex: str
    block_hash: str  # RPC (reversed) hex
    height: int
    parent: str  # RPC hex of hashPrevBlock
    challenge: bytes
    digest: bytes  # what is signed: raw double-SHA256 of the preimage
    preimage: bytes


def describe(block_hex: str) -> BlockInfo:
    """Parse a proposed block; DecodeError if it is not one."""
    if not isinstance(block_hex, str):
        raise DecodeError("block is not hex")
    try:
        raw = bytes.fromhex(block_hex)
    except ValueError:
        raise DecodeError("block is not hex") from None
    h = BlockHeader.read(Reader(raw))
    preimage = h.preimage()  # made and hashed once (hash_hex and digest would each again)
    digest = dsha256(preimage)
    return BlockInfo(
        block_hex=block_hex,
        block_hash=digest[::-1].hex(),
        height=h.height,
        parent=h.prev_hash[::-1].hex(),
        challenge=h.challenge,
        digest=digest,
        preimage=preimage,
    )


def complete(block_hex: str, sigs_in_key_order: list[bytes]) -> str:
    """The block with its solution: OP_0 then the DER signatures in key order.

    Only the header is re-encoded; the transactions are copied as they are.
    """
    raw = bytes.fromhex(block_hex)
    reader = Reader(raw)
    header = BlockHeader.read(reader)
    signed = header.with_solution(build_solution(sigs_in_key_order)).serialize()
    return (signed + raw[reader.pos :]).hex()
