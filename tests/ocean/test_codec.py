"""Header, block and transaction codec against the real chain and signing rounds."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest

from oceanfed.errors import DecodeError
from oceanfed.ocean.assets import issuance_entropy, issued_asset_id
from oceanfed.ocean.block import Block
from oceanfed.ocean.coinbase import coinbase_tx, finish_block, policy_asset_of, script_num
from oceanfed.ocean.encoding import Reader
from oceanfed.ocean.fastmerkle import sha256_compress
from oceanfed.ocean.header import FIXED_SIZE, BlockHeader
from oceanfed.ocean.tx import Transaction, explicit_value, value_amount


def test_vectors_present(chain_blocks, rounds) -> None:
    assert len(chain_blocks) == 20 and len(rounds) == 18


def test_chain_block_round_trip_hash_and_merkle(chain_path, chain_json) -> None:
    path = chain_path
    text = path.read_text().strip()
    block = Block.from_hex(text)
    assert block.block_hex() == text
    assert block.hash_hex() == path.stem.split("_")[1]
    height = int(path.name[:3])
    assert block.header.height == height
    info = chain_json[height]
    assert block.header.preimage().hex() == info["header_preimage_hex"]
    assert len(block.header.preimage()) == FIXED_SIZE + 1 + len(block.header.challenge) == 278
    assert (
        block.header.digest()
        == hashlib.sha256(hashlib.sha256(block.header.preimage()).digest()).digest()
    )
    assert block.compute_merkle_root() == block.header.merkle_root
    header_only = BlockHeader.from_hex(block.header.hex())
    assert header_only == block.header


def test_every_transaction_round_trips(chain_path) -> None:
    block = Block.from_hex(chain_path.read_text().strip())
    for tx in block.txs:
        raw = tx.serialize()
        again = Transaction.from_bytes(raw)
        assert again == tx and again.serialize() == raw
        stripped = tx.serialize(with_witness=False)
        assert stripped[4] == 0  # flags byte 0 without witness
        assert tx.txid() == hashlib.sha256(hashlib.sha256(stripped).digest()).digest()


def test_coinbase_and_witness_commitment_rebuilt(signed_path, chain_blocks) -> None:
    genesis = Block.from_hex(chain_blocks[0].read_text().strip())
    block = Block.from_hex(signed_path.read_text().strip())
    cb = block.txs[0]
    rebuilt = finish_block(
        replace(block.header, merkle_root=bytes(32)),
        [
            coinbase_tx(
                block.header.height,
                policy_asset_of(genesis),
                cb.vout[0].script_pubkey,
                cb.vout[0].amount or 0,
            ),
            *block.txs[1:],
        ],
    )
    assert rebuilt.block_hex() == block.block_hex()


def test_issuance_transactions_parse(chain_blocks) -> None:
    block = Block.from_hex(chain_blocks[15].read_text().strip())
    issuances = [i.issuance for tx in block.txs for i in tx.vin if i.issuance is not None]
    assert issuances and all(not i.is_reissuance for i in issuances)
    reissue = Block.from_hex(chain_blocks[16].read_text().strip())
    assert any(i.issuance.is_reissuance for tx in reissue.txs for i in tx.vin if i.issuance)


def test_genesis_policy_asset_derivation(chain_blocks) -> None:
    genesis = Block.from_hex(chain_blocks[0].read_text().strip())
    issue = genesis.txs[1].vin[0]
    assert issue.issuance is not None
    entropy = issuance_entropy(issue.prev_txid, issue.prev_index, issue.issuance.entropy)
    assert issued_asset_id(entropy) == policy_asset_of(genesis)
    assert (
        policy_asset_of(genesis)[::-1].hex()
        == "faf438ff94a1459c2ac204df42d3aa8020cac66000fd44a73de052c95a48e1b0"
    )


def test_signing_round_preimage_digest_hash(signing_round) -> None:
    rnd = signing_round
    block = Block.from_hex(rnd.text("unsigned_block.hex"))
    assert block.header.solution == b""
    assert block.header.version == 0x20000000
    assert block.header.preimage().hex() == rnd.text("header_preimage.hex")
    assert block.header.digest().hex() == rnd.text("sighash_dsha256_internal_order.hex")
    assert block.hash_hex() == rnd.text("block_hash.txt")
    signed = Block.from_hex(rnd.text("accepted_signed_block.hex"))
    assert signed.header.solution.hex() == rnd.text("accepted_solution.hex")
    assert signed.with_solution(b"").block_hex() == block.block_hex()
    assert block.with_solution(signed.header.solution).block_hex() == signed.block_hex()
    assert signed.hash_hex() == block.hash_hex()  # the solution is not hashed


def test_stale_sibling_hash(rounds) -> None:
    rnd = next(r for r in rounds if r.name.endswith("h014"))
    sibling = Block.from_hex(rnd.text("stale_sibling_unsigned_block.hex"))
    assert sibling.hash_hex() == rnd.text("stale_sibling_block_hash.txt")


def test_decode_errors_are_one_line(chain_blocks) -> None:
    good = chain_blocks[1].read_text().strip()
    for bad in ("zz", good[:300], good + "00"):
        with pytest.raises(DecodeError) as info:
            Block.from_hex(bad)
        assert "\n" not in str(info.value)


def test_negative_transaction_version_round_trips(chain_blocks) -> None:
    # nVersion is a signed int32 on the wire; a negative one must re-serialize unchanged.
    tx = Block.from_hex(chain_blocks[1].read_text().strip()).txs[0]
    raw = b"\xfe\xff\xff\xff" + tx.serialize()[4:]
    again = Transaction.from_bytes(raw)
    assert again.version == -2 and again.serialize() == raw


@pytest.mark.parametrize("marker, width", [(0xFD, 2), (0xFE, 4), (0xFF, 8)])
def test_non_canonical_compact_size_is_refused(chain_blocks, marker: int, width: int) -> None:
    # The node refuses an over-long CompactSize; accepting one would let two byte strings
    # decode to one header, and the block we re-serialize would differ from the one we saw.
    raw = Block.from_hex(chain_blocks[1].read_text().strip()).header.serialize()
    length = raw[FIXED_SIZE]  # the challenge's length, one byte when canonical
    assert length < 0xFD
    padded = raw[:FIXED_SIZE] + bytes([marker]) + length.to_bytes(width, "little") + raw[FIXED_SIZE + 1:]
    with pytest.raises(DecodeError, match=f"non-canonical CompactSize at offset {FIXED_SIZE}"):
        BlockHeader.from_bytes(padded)
    least = {2: 0xFD, 4: 0x10000, 8: 0x100000000}[width]  # the smallest value this width may carry
    assert Reader(bytes([marker]) + least.to_bytes(width, "little")).compact_size() == least
    with pytest.raises(DecodeError, match="non-canonical"):
        Reader(bytes([marker]) + (least - 1).to_bytes(width, "little")).compact_size()


def test_sha256_compress_matches_hashlib() -> None:
    # SHA-256 of the empty message is one compression of the padding block.
    assert sha256_compress(b"\x80" + bytes(63)) == hashlib.sha256(b"").digest()


def test_explicit_values_and_script_num(vectors) -> None:
    assert value_amount(explicit_value(21_000_000 * 10**8)) == 21_000_000 * 10**8
    assert value_amount(b"\x00") is None
    assert [script_num(n).hex() for n in (0, 1, 127, 128, 255, -1, 17)] == [
        "",
        "01",
        "7f",
        "8000",
        "ff00",
        "81",
        "11",
    ]
    assert vectors.exists()
