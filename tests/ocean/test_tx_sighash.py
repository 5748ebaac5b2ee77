"""Transactions of the real chain: byte-exact round trip, txids, merkle roots, and every
input signature verified over our legacy sighash and script interpreter."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from oceanfed.crypto import verify_digest
from oceanfed.ocean.block import Block
from oceanfed.ocean.encoding import dsha256
from oceanfed.ocean.interpreter import MANDATORY_FLAGS, STANDARD_FLAGS, verify_script
from oceanfed.ocean.script import iter_ops
from oceanfed.ocean.sighash import SIGHASH_SINGLE, legacy_sighash, legacy_sighash_preimage
from oceanfed.ocean.tx import Transaction


def _blocks(chain_blocks: list[Path]) -> list[Block]:
    return [Block.from_hex(p.read_text().strip()) for p in chain_blocks]


def test_every_transaction_round_trips(chain_blocks) -> None:
    for path in chain_blocks:
        block = Block.from_hex(path.read_text().strip())
        assert block.compute_merkle_root() == block.header.merkle_root
        for tx in block.txs:
            raw = tx.serialize()
            again = Transaction.from_bytes(raw)
            assert again == tx and again.serialize() == raw
            assert again.txid() == tx.txid()


def test_legacy_sighash_matches_every_vector_signature(chain_blocks) -> None:
    blocks = _blocks(chain_blocks)
    txs = {tx.txid(): tx for b in blocks for tx in b.txs}
    checked = 0
    for block in blocks[1:]:
        for tx in block.txs[1:]:
            for index, txin in enumerate(tx.vin):
                (_, sig), (_, pubkey) = list(iter_ops(txin.script_sig))
                assert sig is not None and pubkey is not None
                prev = txs[txin.prev_txid].vout[txin.prev_index].script_pubkey
                digest = legacy_sighash(tx, index, prev, sig[-1])
                assert verify_digest(pubkey, digest, sig[:-1])
                preimage = legacy_sighash_preimage(tx, index, prev, sig[-1])
                assert dsha256(preimage) == digest and preimage[-4:] == bytes([sig[-1], 0, 0, 0])
                # A different script code or hash type signs something else.
                assert not verify_digest(
                    pubkey, legacy_sighash(tx, index, prev + b"\x61", 1), sig[:-1]
                )
                assert not verify_digest(pubkey, legacy_sighash(tx, index, prev, 2), sig[:-1])
                for flags in (MANDATORY_FLAGS, STANDARD_FLAGS):
                    verify_script(txin.script_sig, prev, tx, index, flags)
                checked += 1
    assert checked == 8  # issuances, a reissuance, transfers and the freeze


def test_sighash_single_without_output_has_no_preimage(chain_blocks) -> None:
    # Bitcoin's SIGHASH_SINGLE bug: an input past the last output signs the constant 1.
    base = _blocks(chain_blocks)[1].txs[0]
    tx = replace(base, vin=base.vin * (len(base.vout) + 1))
    index = len(tx.vout)
    assert legacy_sighash(tx, index, b"", SIGHASH_SINGLE) == (1).to_bytes(32, "little")
    with pytest.raises(ValueError, match="SIGHASH_SINGLE"):
        legacy_sighash_preimage(tx, index, b"", SIGHASH_SINGLE)
