"""The Ocean block header: 172 fixed bytes, then ``proof.challenge`` and ``proof.solution``.

Fixed part, little-endian: nVersion(4) · hashPrevBlock(32) · hashMerkleRoot(32) ·
hashContract(32) · hashAttestation(32) · hashMapping(32) · nTime(4) · nHeight(4). The
challenge and solution follow, each as CompactSize length + script.

The block hash is the double-SHA256 of the header *without the solution*; that digest, in
internal byte order, is what the federation signs. RPC shows it byte-reversed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from oceanfed.ocean.encoding import Reader, compact_size, dsha256, hex_bytes

FIXED_SIZE = 172


@dataclass(frozen=True)
class BlockHeader:
    """One header; hashes are 32 bytes in internal (serialized) byte order."""

    version: int
    prev_hash: bytes
    merkle_root: bytes
    contract_hash: bytes
    attestation_hash: bytes
    mapping_hash: bytes
    time: int
    height: int
    challenge: bytes
    solution: bytes = b""

    def __post_init__(self) -> None:
        for name in (
            "prev_hash",
            "merkle_root",
            "contract_hash",
            "attestation_hash",
            "mapping_hash",
        ):
            if len(getattr(self, name)) != 32:
                raise ValueError(f"header {name} must be 32 bytes")

    def preimage(self) -> bytes:
        """The header bytes without the solution: what is hashed and signed."""
        return b"".join(
            (
                (self.version & 0xFFFFFFFF).to_bytes(4, "little"),
                self.prev_hash,
                self.merkle_root,
                self.contract_hash,
                self.attestation_hash,
                self.mapping_hash,
                self.time.to_bytes(4, "little"),
                self.height.to_bytes(4, "little"),
                compact_size(len(self.challenge)),
                self.challenge,
            )
        )

    def serialize(self) -> bytes:
        return self.preimage() + compact_size(len(self.solution)) + self.solution

    def digest(self) -> bytes:
        """Raw double-SHA256 of :meth:`preimage` in internal order (the signed digest)."""
        return dsha256(self.preimage())

    def hash_hex(self) -> str:
        """The block hash as RPC shows it (byte-reversed digest)."""
        return self.digest()[::-1].hex()

    def hex(self) -> str:
        return self.serialize().hex()

    def with_solution(self, solution: bytes) -> BlockHeader:
        return replace(self, solution=solution)

    @classmethod
    def read(cls, r: Reader) -> BlockHeader:
        version = r.i32()
        prev, merkle, contract, attestation, mapping = (r.read(32) for _ in range(5))
        time = r.u32()
        height = r.u32()
        challenge = r.var_bytes()
        solution = r.var_bytes()
        return cls(
            version, prev, merkle, contract, attestation, mapping, time, height, challenge, solution
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> BlockHeader:
        r = Reader(data)
        header = cls.read(r)
        r.expect_end("block header")
        return header

    @classmethod
    def from_hex(cls, text: str) -> BlockHeader:
        return cls.from_bytes(hex_bytes(text, "block header"))
