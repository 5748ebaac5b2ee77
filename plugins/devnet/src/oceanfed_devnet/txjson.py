"""JSON views of transactions, amounts and assets, as the node prints them."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from oceanfed.ocean.encoding import dsha256
from oceanfed.ocean.interpreter import script_asm
from oceanfed.ocean.standard import script_pubkey_json
from oceanfed.ocean.tx import Transaction, explicit_asset_id, value_amount
from oceanfed_devnet.state import MAX_MONEY, issuance_ids

COIN = 100_000_000
#: the policy asset's label (``assetlabel``), as the vectors' node shows it
POLICY_LABEL = "CBT"


class AmountError(ValueError):
    """An amount argument is malformed: the message is the node's."""


def amount_json(value: int) -> float:
    return float(Decimal(value) / COIN)


def parse_amount(value: Any) -> int:
    """``AmountFromValue``: a JSON number or numeric string with at most 8 decimals."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise AmountError("Amount is not a number or string")
    try:
        d = Decimal(str(value)) if not isinstance(value, str) else Decimal(value)
    except InvalidOperation:
        raise AmountError("Invalid amount") from None
    sats = d * COIN
    if sats != sats.to_integral_value():
        raise AmountError("Invalid amount")
    if not 0 <= sats <= MAX_MONEY:
        raise AmountError("Amount out of range")
    return int(sats)


def asset_hex(asset: bytes) -> str:
    return asset[::-1].hex()


def tx_json(tx: Transaction, policy_asset: bytes) -> dict[str, Any]:
    """``decoderawtransaction``'s result (without the block fields)."""
    raw = tx.serialize()
    stripped = len(tx.serialize(with_witness=False))
    weight = stripped * 3 + len(raw)
    vin: list[dict[str, Any]] = []
    for txin in tx.vin:
        if txin.is_coinbase:
            vin.append({"coinbase": txin.script_sig.hex(), "sequence": txin.sequence})
            continue
        item: dict[str, Any] = {
            "txid": txin.prev_txid[::-1].hex(),
            "vout": txin.prev_index,
            "scriptSig": {
                "asm": script_asm(txin.script_sig, sighash_decode=True),
                "hex": txin.script_sig.hex(),
            },
            "is_pegin": txin.is_pegin,
        }
        iss = txin.issuance
        if iss is not None:
            entropy, asset, token = issuance_ids(
                (txin.prev_txid, txin.prev_index), iss.entropy, iss.is_reissuance
            )
            info: dict[str, Any] = {
                "assetBlindingNonce": iss.blinding_nonce[::-1].hex(),
                "assetEntropy": entropy[::-1].hex(),
                "isreissuance": iss.is_reissuance,
            }
            if not iss.is_reissuance:
                info["token"] = asset_hex(token)
            info["asset"] = asset_hex(asset)
            amount = value_amount(iss.amount)
            if amount is not None:
                info["assetamount"] = amount_json(amount)
            keys = value_amount(iss.inflation_keys)
            if keys is not None:
                info["tokenamount"] = amount_json(keys)
            item["issuance"] = info
        item["sequence"] = txin.sequence
        vin.append(item)
    vout: list[dict[str, Any]] = []
    for n, o in enumerate(tx.vout):
        out: dict[str, Any] = {}
        amount = o.amount
        if amount is not None:
            out["value"] = amount_json(amount)
        out_asset = explicit_asset_id(o.asset)
        if out_asset is not None:
            out["asset"] = asset_hex(out_asset)
            if out_asset == policy_asset:
                out["assetlabel"] = POLICY_LABEL
        out["n"] = n
        out["scriptPubKey"] = script_pubkey_json(o.script_pubkey)
        vout.append(out)
    return {
        "txid": tx.txid_hex(),
        "hash": dsha256(raw)[::-1].hex() if tx.has_witness else tx.txid_hex(),
        "withash": tx.witness_only_hash()[::-1].hex(),
        "size": len(raw),
        "vsize": (weight + 3) // 4,
        "version": tx.version,
        "locktime": tx.locktime,
        "vin": vin,
        "vout": vout,
    }
