"""An Ocean block: the header (with solution), CompactSize(tx count), the transactions."""

from __future__ import annotations

from dataclasses import dataclass, replace

from oceanfed.errors import DecodeError
from oceanfed.ocean.encoding import Reader, compact_size, hex_bytes
from oceanfed.ocean.fastmerkle import fast_merkle_root
from oceanfed.ocean.header import BlockHeader
from oceanfed.ocean.tx import Transaction, merkle_root


@dataclass(frozen=True)
class Block:
    header: BlockHeader
    txs: tuple[Transaction, ...]

    def serialize(self, *, with_witness: bool = True) -> bytes:
        return (
            self.header.serialize()
            + compact_size(len(self.txs))
            + b"".join(tx.serialize(with_witness=with_witness) for tx in self.txs)
        )

    def block_hex(self) -> str:
        return self.serialize().hex()

    def hash_hex(self) -> str:
        return self.header.hash_hex()

    def compute_merkle_root(self) -> bytes:
        """Merkle root over the txids (internal order), as ``hashMerkleRoot`` must hold."""
        return merkle_root([tx.txid() for tx in self.txs])

    def witness_root(self) -> bytes:
        """Fast merkle root over every transaction's witness-only hash (coinbase included).

        The coinbase commits to it in an output ``6a24aa21a9ed`` + dsha256(root || nonce),
        the nonce being the coinbase input's single witness item.
        """
        return fast_merkle_root([tx.witness_only_hash() for tx in self.txs])

    def with_solution(self, solution: bytes) -> Block:
        return replace(self, header=self.header.with_solution(solution))

    @classmethod
    def from_bytes(cls, data: bytes) -> Block:
        r = Reader(data)
        header = BlockHeader.read(r)
        count = r.compact_size()
        if count > len(data):
            raise DecodeError(f"block: implausible transaction count {count}")
        txs = tuple(Transaction.read(r) for _ in range(count))
        r.expect_end("block")
        return cls(header, txs)

    @classmethod
    def from_hex(cls, text: str) -> Block:
        return cls.from_bytes(hex_bytes(text, "block"))
