"""Ocean transactions in the Elements-0.14 serialization (explicit, unblinded form).

Layout: nVersion(4) · flags(1) · vin · vout · nLockTime(4) · witness (if ``flags & 1``).

* An input is ``prevout hash(32) · n(4) · scriptSig · nSequence(4)``, followed by an
  :class:`AssetIssuance` when bit 31 of ``n`` is set (bit 30 marks a peg-in). The coinbase
  input (``n == 0xffffffff``) carries no flags.
* An output is ``asset · value · nonce · scriptPubKey``. Asset, value and nonce are
  confidential fields: a version byte, then nothing (null), explicit data or a commitment.
* The witness holds, per input, the issuance amount and inflation-key range proofs, the
  script witness stack and the peg-in witness stack; per output, the surjection proof and
  the range proof.

The txid is the double-SHA256 of the serialization without the witness (flags byte 0), as
the node computes it. The witness-only hash (for the block's witness commitment) is a fast
merkle tree over the per-input and per-output witness hashes, the coinbase input's witness
counting as empty. Fields are kept as raw bytes so every transaction re-serializes byte
for byte; helpers read and build the explicit forms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from oceanfed.errors import DecodeError
from oceanfed.ocean.encoding import Reader, compact_size, dsha256, hex_bytes
from oceanfed.ocean.fastmerkle import fast_merkle_root

#: Outpoint index flags of an input (Elements).
OUTPOINT_ISSUANCE_FLAG = 0x80000000
OUTPOINT_PEGIN_FLAG = 0x40000000
OUTPOINT_INDEX_MASK = 0x3FFFFFFF
NULL_INDEX = 0xFFFFFFFF

#: Sizes of the data after the version byte of each confidential field, by version.
_ASSET_SIZES = {0: 0, 1: 32, 0x0A: 32, 0x0B: 32}
_VALUE_SIZES = {0: 0, 1: 8, 0x08: 32, 0x09: 32}
_NONCE_SIZES = {0: 0, 1: 32, 0x02: 32, 0x03: 32}

NULL_CONFIDENTIAL = b"\x00"


def _read_confidential(r: Reader, sizes: dict[int, int], what: str) -> bytes:
    version = r.u8()
    size = sizes.get(version)
    if size is None:
        raise DecodeError(f"transaction: unknown {what} encoding 0x{version:02x}")
    return bytes([version]) + r.read(size)


def explicit_value(amount: int) -> bytes:
    """An explicit confidential value: ``01`` then the amount (satoshi) big-endian."""
    if not 0 <= amount < 1 << 63:
        raise ValueError(f"amount {amount} out of range")
    return b"\x01" + amount.to_bytes(8, "big")


def value_amount(value: bytes) -> int | None:
    """The amount of an explicit confidential value, or None (null or blinded)."""
    return int.from_bytes(value[1:9], "big") if value[:1] == b"\x01" else None


def explicit_asset(asset_id: bytes) -> bytes:
    """An explicit confidential asset from a 32-byte asset id (internal byte order)."""
    if len(asset_id) != 32:
        raise ValueError("asset id must be 32 bytes")
    return b"\x01" + asset_id


def explicit_asset_id(asset: bytes) -> bytes | None:
    """The 32-byte id of an explicit confidential asset, or None."""
    return asset[1:33] if asset[:1] == b"\x01" else None


def _write_stack(stack: Sequence[bytes]) -> bytes:
    return compact_size(len(stack)) + b"".join(compact_size(len(x)) + x for x in stack)


def _read_stack(r: Reader) -> tuple[bytes, ...]:
    return tuple(r.var_bytes() for _ in range(r.compact_size()))


@dataclass(frozen=True)
class AssetIssuance:
    """An issuance or reissuance attached to an input (all confidential fields raw)."""

    blinding_nonce: bytes = bytes(32)
    entropy: bytes = bytes(32)
    amount: bytes = NULL_CONFIDENTIAL
    inflation_keys: bytes = NULL_CONFIDENTIAL

    @property
    def is_reissuance(self) -> bool:
        """A reissuance carries the token's blinding nonce; a new issuance has zero."""
        return self.blinding_nonce != bytes(32)

    def serialize(self) -> bytes:
        return self.blinding_nonce + self.entropy + self.amount + self.inflation_keys

    @classmethod
    def read(cls, r: Reader) -> AssetIssuance:
        return cls(
            blinding_nonce=r.read(32),
            entropy=r.read(32),
            amount=_read_confidential(r, _VALUE_SIZES, "issuance amount"),
            inflation_keys=_read_confidential(r, _VALUE_SIZES, "inflation keys"),
        )


@dataclass(frozen=True)
class TxInWitness:
    issuance_amount_rangeproof: bytes = b""
    inflation_keys_rangeproof: bytes = b""
    script_witness: tuple[bytes, ...] = ()
    pegin_witness: tuple[bytes, ...] = ()

    def is_null(self) -> bool:
        return not (
            self.issuance_amount_rangeproof
            or self.inflation_keys_rangeproof
            or self.script_witness
            or self.pegin_witness
        )

    def serialize(self) -> bytes:
        return (
            compact_size(len(self.issuance_amount_rangeproof))
            + self.issuance_amount_rangeproof
            + compact_size(len(self.inflation_keys_rangeproof))
            + self.inflation_keys_rangeproof
            + _write_stack(self.script_witness)
            + _write_stack(self.pegin_witness)
        )

    def hash(self) -> bytes:
        return fast_merkle_root(
            [
                dsha256(
                    compact_size(len(self.issuance_amount_rangeproof))
                    + self.issuance_amount_rangeproof
                ),
                dsha256(
                    compact_size(len(self.inflation_keys_rangeproof))
                    + self.inflation_keys_rangeproof
                ),
                dsha256(_write_stack(self.script_witness)),
                dsha256(_write_stack(self.pegin_witness)),
            ]
        )

    @classmethod
    def read(cls, r: Reader) -> TxInWitness:
        return cls(r.var_bytes(), r.var_bytes(), _read_stack(r), _read_stack(r))


@dataclass(frozen=True)
class TxOutWitness:
    surjection_proof: bytes = b""
    range_proof: bytes = b""

    def is_null(self) -> bool:
        return not (self.surjection_proof or self.range_proof)

    def serialize(self) -> bytes:
        return (
            compact_size(len(self.surjection_proof))
            + self.surjection_proof
            + compact_size(len(self.range_proof))
            + self.range_proof
        )

    def hash(self) -> bytes:
        return fast_merkle_root(
            [
                dsha256(compact_size(len(self.surjection_proof)) + self.surjection_proof),
                dsha256(compact_size(len(self.range_proof)) + self.range_proof),
            ]
        )

    @classmethod
    def read(cls, r: Reader) -> TxOutWitness:
        return cls(r.var_bytes(), r.var_bytes())


@dataclass(frozen=True)
class TxIn:
    """An input. ``prev_txid`` is in internal byte order; ``prev_index`` carries no flags."""

    prev_txid: bytes
    prev_index: int
    script_sig: bytes = b""
    sequence: int = 0xFFFFFFFF
    issuance: AssetIssuance | None = None
    is_pegin: bool = False
    witness: TxInWitness = field(default_factory=TxInWitness)

    @property
    def is_coinbase(self) -> bool:
        return self.prev_index == NULL_INDEX and self.prev_txid == bytes(32)

    def serialize(self) -> bytes:
        n = self.prev_index
        if n != NULL_INDEX:
            if n & ~OUTPOINT_INDEX_MASK:
                raise ValueError(f"input index {n} too large")
            if self.issuance is not None:
                n |= OUTPOINT_ISSUANCE_FLAG
            if self.is_pegin:
                n |= OUTPOINT_PEGIN_FLAG
        out = (
            self.prev_txid
            + n.to_bytes(4, "little")
            + compact_size(len(self.script_sig))
            + self.script_sig
            + self.sequence.to_bytes(4, "little")
        )
        if self.issuance is not None and self.prev_index != NULL_INDEX:
            out += self.issuance.serialize()
        return out

    @classmethod
    def read(cls, r: Reader) -> TxIn:
        txid = r.read(32)
        n = r.u32()
        script_sig = r.var_bytes()
        sequence = r.u32()
        if n == NULL_INDEX:
            return cls(txid, n, script_sig, sequence)
        issuance = AssetIssuance.read(r) if n & OUTPOINT_ISSUANCE_FLAG else None
        return cls(
            txid,
            n & OUTPOINT_INDEX_MASK,
            script_sig,
            sequence,
            issuance=issuance,
            is_pegin=bool(n & OUTPOINT_PEGIN_FLAG),
        )


@dataclass(frozen=True)
class TxOut:
    """An output; ``asset``, ``value`` and ``nonce`` are raw confidential fields."""

    asset: bytes
    value: bytes
    script_pubkey: bytes
    nonce: bytes = NULL_CONFIDENTIAL
    witness: TxOutWitness = field(default_factory=TxOutWitness)

    @property
    def amount(self) -> int | None:
        return value_amount(self.value)

    def serialize(self) -> bytes:
        return (
            self.asset
            + self.value
            + self.nonce
            + compact_size(len(self.script_pubkey))
            + self.script_pubkey
        )

    @classmethod
    def read(cls, r: Reader) -> TxOut:
        asset = _read_confidential(r, _ASSET_SIZES, "asset")
        value = _read_confidential(r, _VALUE_SIZES, "value")
        nonce = _read_confidential(r, _NONCE_SIZES, "nonce")
        return cls(asset=asset, value=value, nonce=nonce, script_pubkey=r.var_bytes())


@dataclass(frozen=True)
class Transaction:
    """A transaction; witnesses live on the inputs and outputs."""

    version: int
    vin: tuple[TxIn, ...]
    vout: tuple[TxOut, ...]
    locktime: int = 0

    @property
    def has_witness(self) -> bool:
        return any(not i.witness.is_null() for i in self.vin) or any(
            not o.witness.is_null() for o in self.vout
        )

    @property
    def is_coinbase(self) -> bool:
        return len(self.vin) == 1 and self.vin[0].is_coinbase

    def serialize(self, *, with_witness: bool = True) -> bytes:
        witness = with_witness and self.has_witness
        out = [
            self.version.to_bytes(4, "little", signed=True),
            b"\x01" if witness else b"\x00",
            compact_size(len(self.vin)),
            *(i.serialize() for i in self.vin),
            compact_size(len(self.vout)),
            *(o.serialize() for o in self.vout),
            self.locktime.to_bytes(4, "little"),
        ]
        if witness:
            out += [i.witness.serialize() for i in self.vin]
            out += [o.witness.serialize() for o in self.vout]
        return b"".join(out)

    def txid(self) -> bytes:
        """Double-SHA256 of the witness-stripped serialization (internal byte order)."""
        return dsha256(self.serialize(with_witness=False))

    def txid_hex(self) -> str:
        """The txid as RPC shows it (byte-reversed)."""
        return self.txid()[::-1].hex()

    def witness_only_hash(self) -> bytes:
        """Elements' ``GetWitnessOnlyHash``: the leaf of the block's witness tree."""
        ins = [(TxInWitness() if i.is_coinbase else i.witness).hash() for i in self.vin]
        outs = [o.witness.hash() for o in self.vout]
        return fast_merkle_root([fast_merkle_root(ins), fast_merkle_root(outs)])

    def hex(self) -> str:
        return self.serialize().hex()

    def with_witness(
        self, vin: Sequence[TxInWitness] | None = None, vout: Sequence[TxOutWitness] | None = None
    ) -> Transaction:
        """A copy with the given input and/or output witnesses."""
        ins = (
            self.vin
            if vin is None
            else tuple(replace(i, witness=w) for i, w in zip(self.vin, vin, strict=True))
        )
        outs = (
            self.vout
            if vout is None
            else tuple(replace(o, witness=w) for o, w in zip(self.vout, vout, strict=True))
        )
        return replace(self, vin=ins, vout=outs)

    @classmethod
    def read(cls, r: Reader) -> Transaction:
        version = r.i32()
        flags = r.u8()
        if flags & ~1:
            raise DecodeError(f"transaction: unknown flags 0x{flags:02x}")
        vin = [TxIn.read(r) for _ in range(r.compact_size())]
        vout = [TxOut.read(r) for _ in range(r.compact_size())]
        locktime = r.u32()
        if flags & 1:
            vin = [replace(i, witness=TxInWitness.read(r)) for i in vin]
            vout = [replace(o, witness=TxOutWitness.read(r)) for o in vout]
            if all(i.witness.is_null() for i in vin) and all(o.witness.is_null() for o in vout):
                # the node refuses this too: the flag would be dropped on re-serialization
                raise DecodeError("transaction: superfluous witness record")
        return cls(version, tuple(vin), tuple(vout), locktime)

    @classmethod
    def from_bytes(cls, data: bytes) -> Transaction:
        r = Reader(data)
        tx = cls.read(r)
        r.expect_end("transaction")
        return tx

    @classmethod
    def from_hex(cls, text: str) -> Transaction:
        return cls.from_bytes(hex_bytes(text, "transaction"))


def merkle_root(hashes: Sequence[bytes]) -> bytes:
    """Bitcoin merkle root of 32-byte hashes (the last one paired with itself when odd)."""
    if not hashes:
        return bytes(32)
    level = list(hashes)
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [dsha256(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]
