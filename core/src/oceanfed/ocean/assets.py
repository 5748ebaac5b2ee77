"""Elements asset ids: issuance entropy, asset and reissuance-token derivation."""

from __future__ import annotations

from oceanfed.ocean.encoding import dsha256
from oceanfed.ocean.fastmerkle import fast_merkle_root


def issuance_entropy(prev_txid: bytes, prev_index: int, contract_hash: bytes = bytes(32)) -> bytes:
    """Entropy of a new issuance spending ``prev_txid:prev_index`` (internal byte order)."""
    outpoint = prev_txid + prev_index.to_bytes(4, "little")
    return fast_merkle_root([dsha256(outpoint), contract_hash])


def issued_asset_id(entropy: bytes) -> bytes:
    """The asset id an issuance with ``entropy`` creates."""
    return fast_merkle_root([entropy, bytes(32)])


def reissuance_token_id(entropy: bytes, confidential: bool = False) -> bytes:
    """The reissuance token id of an issuance (its amount blinded or not)."""
    tag = (2 if confidential else 1).to_bytes(32, "little")
    return fast_merkle_root([entropy, tag])
