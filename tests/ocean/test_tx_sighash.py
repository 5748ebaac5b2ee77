"""Transactions of the real chain: byte-exact round trip, txids, merkle roots, and every
input signature verified over our legacy sighash and script interpreter."""

from __future__ import annotations

from pathlib import Path

from oceanfed.crypto import verify_digest
from oceanfed.ocean.block import Block
from oceanfed.ocean.interpreter import MANDATORY_FLAGS, STANDARD_FLAGS, verify_script
from oceanfed.ocean.script import iter_ops
from oceanfed.ocean.sighash import legacy_sighash
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
                # A different script code or hash type signs something else.
                assert not verify_digest(
                    pubkey, legacy_sighash(tx, index, prev + b"\x61", 1), sig[:-1]
                )
                assert not verify_digest(pubkey, legacy_sighash(tx, index, prev, 2), sig[:-1])
                for flags in (MANDATORY_FLAGS, STANDARD_FLAGS):
                    verify_script(txin.script_sig, prev, tx, index, flags)
                checked += 1
    assert checked == 8  # issuances, a reissuance, transfers and the freeze
