"""Signatures, solutions and the node's proof check, against the real-node vectors."""

from __future__ import annotations

import json

from oceanfed.crypto import (
    CURVE_ORDER,
    decode_der_strict,
    encode_der,
    sign_digest,
    unwrap_scriptsig,
    wrap_scriptsig,
)
from oceanfed.ocean.block import Block
from oceanfed.ocean.encoding import push_data
from oceanfed.ocean.proof import (
    build_solution,
    check_header_proof,
    check_proof,
    combine_scriptsigs,
    push_stack,
)
from testsupport.signatures import high_s, padded_der


def test_signblock_outputs_reproduced(signing_round, keys) -> None:
    digest = bytes.fromhex(signing_round.text("sighash_dsha256_internal_order.hex"))
    for i, key in enumerate(keys, start=1):
        node_output = signing_round.text(f"signblock_node{i}_key{i}.hex")
        assert wrap_scriptsig(sign_digest(key, digest)).hex() == node_output


def test_python_sigs_file_matches(python_sigs_round, keys) -> None:
    signing_round = python_sigs_round
    path = signing_round.path / "python_sigs.json"
    digest = bytes.fromhex(signing_round.text("sighash_dsha256_internal_order.hex"))
    for name, hexsig in json.loads(path.read_text()).items():
        index = int(name[3]) - 1
        der = unwrap_scriptsig(bytes.fromhex(hexsig))
        r, s = decode_der_strict(der)
        low = sign_digest(keys[index], digest)
        if name.endswith("highS"):
            assert encode_der(r, CURVE_ORDER - s) == low
        else:
            assert der == low


def test_accepted_solution_verifies_and_rebuilds(signing_round) -> None:
    signed = Block.from_hex(signing_round.text("accepted_signed_block.hex"))
    assert check_header_proof(signed.header)
    stack, ok = push_stack(signed.header.solution)
    assert ok
    if stack[0] == b"" and len(stack) == 3:  # canonical shape: OP_0 sig sig
        assert build_solution(stack[1:]) == signed.header.solution
    unsigned = Block.from_hex(signing_round.text("unsigned_block.hex"))
    assert not check_header_proof(unsigned.header)


def test_canonical_solution_from_keys_verifies(signing_round, keys) -> None:
    block = Block.from_hex(signing_round.text("unsigned_block.hex"))
    digest = block.header.digest()
    for pair in ((0, 1), (0, 2), (1, 2)):
        sol = build_solution(sign_digest(keys[i], digest) for i in pair)
        assert check_proof(block.header.challenge, sol, digest)
        assert not check_proof(block.header.challenge, sol, bytes(32))


def test_combineblocksigs_transcripts_reproduced(combine_call) -> None:
    req, resp = combine_call["request"], combine_call["response"]
    block = Block.from_hex(req["params"][0])
    header, complete = combine_scriptsigs(block.header, req["params"][1])
    assert Block(header, block.txs).block_hex() == resp["result"]["hex"]
    assert complete is resp["result"]["complete"]


def test_submitblock_transcripts_agree_on_proof(submit_call) -> None:
    req, resp = submit_call["request"], submit_call["response"]
    block = Block.from_hex(req["params"][0])
    assert check_header_proof(block.header) is (resp["result"] != "block-proof-invalid")


def _variants(keys: list[bytes], digest: bytes) -> dict[str, tuple[bytes, bool]]:
    """The FACTS.md table: (solution, accepted by the node) for keys 1 and 2."""
    s1, s2, s3 = (sign_digest(k, digest) for k in keys)
    high = [high_s(s1), high_s(s2)]
    padded = padded_der(s1)
    return {
        "canonical": (build_solution([s1, s2]), True),
        "high_s_one": (build_solution([high[0], s2]), True),
        "high_s_both": (build_solution(high), True),
        "nonnull_dummy": (b"\x51" + push_data(s1) + push_data(s2), True),
        "hashtype_appended": (build_solution([s1 + b"\x01", s2 + b"\x01"]), True),
        "nonstrict_der_padded_r": (build_solution([padded, s2]), True),
        "three_sigs": (push_data(s1) + push_data(s2) + push_data(s3), True),
        "missing_dummy": (push_data(s1) + push_data(s2), False),
        "wrong_order": (build_solution([s2, s1]), False),
        "one_sig": (build_solution([s1]) + b"\x00", False),
        "empty": (b"", False),
        "other_digest": (build_solution([sign_digest(keys[0], digest[::-1]), s2]), False),
    }


def test_variants_table(rounds, keys) -> None:
    block = Block.from_hex(rounds[0].text("unsigned_block.hex"))
    digest = block.header.digest()
    for name, (solution, accepted) in _variants(keys, digest).items():
        assert check_proof(block.header.challenge, solution, digest) is accepted, name


def test_recorded_direct_submit_variants(chain_blocks) -> None:
    # Heights 10-13 of the chain carry the accepted variants as the node stored them.
    for height in (6, 10, 11, 12, 13):
        block = Block.from_hex(chain_blocks[height].read_text().strip())
        stack, _ = push_stack(block.header.solution)
        assert check_header_proof(block.header)
        if height == 6:
            assert block.header.solution[0] == 0x51
        if height == 13:  # OP_0 and three signatures for a 2-of-3
            assert len(stack) == 4


def test_combine_drops_bad_entries(rounds, keys) -> None:
    block = Block.from_hex(rounds[1].text("unsigned_block.hex"))
    digest = block.header.digest()
    sig = wrap_scriptsig(sign_digest(keys[1], digest)).hex()
    header, complete = combine_scriptsigs(
        block.header, ["zz", "", "0 0", sign_digest(keys[0], digest).hex(), sig]
    )
    assert not complete
    assert header.solution == b"\x00" + push_data(sign_digest(keys[1], digest)) + b"\x00"
    header, complete = combine_scriptsigs(
        header, [wrap_scriptsig(sign_digest(keys[2], digest)).hex()]
    )
    assert complete and check_header_proof(header)
