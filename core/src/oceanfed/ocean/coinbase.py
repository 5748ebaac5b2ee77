"""Coinbase and genesis transactions in the shape a real oceand produces.

A block's coinbase (see the vector chain): version 2; one null input whose scriptSig is
``<height> <extranonce 1>`` and whose witness is one 32-byte zero nonce; an output of the
fees in the policy asset to the coinbase destination (``OP_RETURN`` when none), and the
witness commitment ``OP_RETURN 0xaa21a9ed <dsha256(witness root || nonce)>``.

A genesis block holds a version-1 coinbase paying nothing to ``OP_RETURN`` and a
transaction issuing the policy asset, split over equal outputs.
"""

from __future__ import annotations

from dataclasses import replace

from oceanfed.ocean.assets import issuance_entropy, issued_asset_id
from oceanfed.ocean.block import Block
from oceanfed.ocean.encoding import dsha256, push_data
from oceanfed.ocean.header import BlockHeader
from oceanfed.ocean.script import OP_1
from oceanfed.ocean.tx import (
    NULL_INDEX,
    AssetIssuance,
    Transaction,
    TxIn,
    TxInWitness,
    TxOut,
    explicit_asset,
    explicit_value,
    merkle_root,
)

OP_RETURN = b"\x6a"
WITNESS_COMMITMENT_HEADER = b"\x6a\x24\xaa\x21\xa9\xed"


def script_num(n: int) -> bytes:
    """Minimal CScriptNum encoding (little-endian, sign bit in the last byte)."""
    if n == 0:
        return b""
    neg, v = n < 0, abs(n)
    out = bytearray()
    while v:
        out.append(v & 0xFF)
        v >>= 8
    if out[-1] & 0x80:
        out.append(0x80 if neg else 0)
    elif neg:
        out[-1] |= 0x80
    return bytes(out)


def push_int(n: int) -> bytes:
    """``CScript() << n``: OP_0, OP_1..OP_16, or a push of the script number."""
    if n == 0:
        return b"\x00"
    if 1 <= n <= 16:
        return bytes([OP_1 + n - 1])
    return push_data(script_num(n))


def coinbase_tx(
    height: int, policy_asset: bytes, destination: bytes = OP_RETURN, fees: int = 0
) -> Transaction:
    """A block's coinbase, its witness commitment still zero (see :func:`finish_block`)."""
    cb_in = TxIn(
        bytes(32),
        NULL_INDEX,
        push_int(height) + push_data(script_num(1)),
        witness=TxInWitness(script_witness=(bytes(32),)),
    )
    asset = explicit_asset(policy_asset)
    outs = (
        TxOut(asset, explicit_value(fees), destination),
        TxOut(asset, explicit_value(0), WITNESS_COMMITMENT_HEADER + bytes(32)),
    )
    return Transaction(2, (cb_in,), outs, 0)


def finish_block(header: BlockHeader, txs: list[Transaction]) -> Block:
    """Fill in the coinbase's witness commitment and the header's merkle root."""
    draft = Block(header, tuple(txs))
    coinbase = txs[0]
    nonce = coinbase.vin[0].witness.script_witness[0]
    commitment = dsha256(draft.witness_root() + nonce)
    last = coinbase.vout[-1]
    outs = (
        *coinbase.vout[:-1],
        replace(last, script_pubkey=WITNESS_COMMITMENT_HEADER + commitment),
    )
    txs = [replace(coinbase, vout=outs), *txs[1:]]
    return Block(replace(header, merkle_root=merkle_root([t.txid() for t in txs])), tuple(txs))


def genesis_block(
    challenge: bytes,
    *,
    time: int,
    destination: bytes,
    contract_hash: bytes = bytes(32),
    total: int = 21_000_000 * 100_000_000,
    outputs: int = 100,
) -> Block:
    """A genesis block issuing ``total`` units of the policy asset to ``destination``."""
    commit = dsha256(challenge + contract_hash)
    coinbase = Transaction(
        1,
        (TxIn(bytes(32), NULL_INDEX, push_data(commit)),),
        (TxOut(explicit_asset(bytes(32)), explicit_value(0), OP_RETURN),),
    )
    entropy = issuance_entropy(commit, 0, contract_hash)
    asset = explicit_asset(issued_asset_id(entropy))
    issuance = AssetIssuance(
        entropy=contract_hash, amount=explicit_value(total), inflation_keys=explicit_value(0)
    )
    share, rest = divmod(total, outputs)
    outs = tuple(
        TxOut(asset, explicit_value(share + (rest if i == 0 else 0)), destination)
        for i in range(outputs)
    )
    issue = Transaction(1, (TxIn(commit, 0, b"", issuance=issuance),), outs)
    txs = (coinbase, issue)
    header = BlockHeader(
        version=1,
        prev_hash=bytes(32),
        merkle_root=merkle_root([t.txid() for t in txs]),
        contract_hash=contract_hash,
        attestation_hash=bytes(32),
        mapping_hash=bytes(32),
        time=time,
        height=0,
        challenge=challenge,
    )
    return Block(header, txs)


def policy_asset_of(genesis: Block) -> bytes:
    """The policy asset a genesis block issues (zero if it issues none)."""
    for tx in genesis.txs[1:]:
        for out in tx.vout:
            if out.asset[:1] == b"\x01":
                return out.asset[1:]
    return bytes(32)
