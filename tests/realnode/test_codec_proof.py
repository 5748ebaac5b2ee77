"""The codec and the proof check against a real oceand: blocks it builds, and hand-built
solutions it accepts or refuses, beyond the recorded vectors."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from oceanfed.crypto import sign_digest, wrap_scriptsig
from oceanfed.errors import DecodeError, RPCError
from oceanfed.keyfile import read_private_key
from oceanfed.ocean.block import Block
from oceanfed.ocean.encoding import push_data
from oceanfed.ocean.header import BlockHeader
from oceanfed.ocean.proof import build_solution, check_header_proof, check_proof, combine_scriptsigs
from oceanfed_devnet.oceand import OceandNet
from testsupport.realnode import wait_for
from testsupport.signatures import high_s, padded_der

pytestmark = [pytest.mark.realnode, pytest.mark.slow]

Sigs = list[bytes]


def _keys(net: OceandNet) -> list[bytes]:
    return [read_private_key(net.layout.block_key_file(n)) for n in net.layout.members]


#: solution variants: name -> builder from the three members' low-S signatures (key order)
VARIANTS: dict[str, Callable[[Sigs], bytes]] = {
    "canonical 0,1": lambda s: build_solution([s[0], s[1]]),
    "canonical 1,2": lambda s: build_solution([s[1], s[2]]),
    "canonical 0,2": lambda s: build_solution([s[0], s[2]]),
    "one high-S signature": lambda s: build_solution([high_s(s[0]), s[2]]),
    "both high-S": lambda s: build_solution([high_s(s[0]), high_s(s[1])]),
    "non-null dummy": lambda s: b"\x51" + push_data(s[0]) + push_data(s[1]),
    "hashtype byte appended": lambda s: build_solution([s[0] + b"\x01", s[1]]),
    "R padded (lax DER)": lambda s: build_solution([padded_der(s[0]), s[1]]),
    "three signatures (first is the dummy)": lambda s: b"".join(push_data(x) for x in s),
    "dummy missing": lambda s: push_data(s[0]) + push_data(s[1]),
    "wrong key order": lambda s: build_solution([s[1], s[0]]),
    "one signature": lambda s: build_solution([s[0]]),
    "one signature twice": lambda s: build_solution([s[0], s[0]]),
    "empty solution": lambda s: b"",
    "signature over another block": lambda s: build_solution([s[0], s[1][:-1] + bytes([s[1][-1] ^ 1])]),
    "non-push opcode": lambda s: build_solution([s[0], s[1]]) + b"\x76",
}


def test_blocks_round_trip_through_the_codec(net23: OceandNet) -> None:
    node = net23.client("m0")
    keys = _keys(net23)
    for _ in range(3):
        proposal = node.call("getnewblockhex")
        block = Block.from_hex(proposal)
        assert block.block_hex() == proposal  # decode, re-encode: byte-identical
        assert block.header.solution == b""
        assert node.call("testproposedblock", proposal) is None
        digest = block.header.digest()
        # signblock (the node wallet's key) equals our RFC 6979 signature, wrapped
        answers = [net23.client(n).call("signblock", proposal) for n in net23.layout.members]
        ours = [wrap_scriptsig(sign_digest(k, digest)).hex() for k in keys]
        assert answers == ours
        # combineblocksigs equals our combine, byte for byte
        combined = node.call("combineblocksigs", proposal, answers)
        header, complete = combine_scriptsigs(block.header, answers)
        assert combined["complete"] is complete is True
        signed = block.with_solution(header.solution)
        assert combined["hex"] == signed.block_hex()
        assert node.call("submitblock", combined["hex"]) is None
        # what the node serves decodes to the same block, hash and header
        assert node.call("getbestblockhash") == block.hash_hex()
        assert node.call("getblock", block.hash_hex(), False) == signed.block_hex()
        served = BlockHeader.from_hex(node.call("getblockheader", block.hash_hex(), False))
        assert served == signed.header
        assert check_header_proof(served)
        info = node.call("getblockheader", block.hash_hex())
        assert info["height"] == block.header.height
        assert info["time"] == block.header.time


def test_proof_check_agrees_with_the_node_on_every_variant(net23: OceandNet) -> None:
    node = net23.client("m0")
    keys = _keys(net23)
    verdicts: dict[str, tuple[bool, object]] = {}
    for name, build in VARIANTS.items():
        block = Block.from_hex(node.call("getnewblockhex"))
        digest = block.header.digest()
        solution = build([sign_digest(k, digest) for k in keys])
        ours = check_proof(block.header.challenge, solution, digest)
        answer = node.call("submitblock", block.with_solution(solution).block_hex())
        accepted = answer is None
        verdicts[name] = (ours, answer)
        assert ours == accepted, f"{name}: we say {ours}, the node answered {answer!r}"
        if accepted:
            assert node.call("getbestblockhash") == block.hash_hex()
            # the node keeps the solution as given, non-canonical or not
            assert Block.from_hex(node.call("getblock", block.hash_hex(), False)).header.solution == solution
        else:
            assert answer == "block-proof-invalid", f"{name}: {answer!r}"
            # the same block with a canonical proof is accepted afterwards
            canonical = build_solution([sign_digest(keys[0], digest), sign_digest(keys[1], digest)])
            assert node.call("submitblock", block.with_solution(canonical).block_hex()) is None
    assert any(ok for ok, _ in verdicts.values()) and not all(ok for ok, _ in verdicts.values())
    # every node followed, whatever the solutions looked like
    tip = node.call("getbestblockhash")
    for name in net23.layout.members[1:]:
        other = net23.client(name)
        wait_for(lambda c=other: c.call("getbestblockhash") == tip, 30, f"{name} at the tip {tip}")


def test_refusals_and_decode_errors_match(net23: OceandNet) -> None:
    node = net23.client("m0")
    keys = _keys(net23)
    block = Block.from_hex(node.call("getnewblockhex"))
    digest = block.header.digest()
    signed = block.with_solution(build_solution([sign_digest(k, digest) for k in keys[:2]]))
    assert node.call("submitblock", signed.block_hex()) is None
    assert node.call("submitblock", signed.block_hex()) == "duplicate"
    # a proposal on the old tip is stale now
    with pytest.raises(RPCError) as err:
        node.call("testproposedblock", block.block_hex())
    assert err.value.code == -25
    with pytest.raises(RPCError) as err:
        node.call("submitblock", "00ff")
    assert err.value.code == -22 and "decode failed" in str(err.value)
    with pytest.raises(DecodeError):
        Block.from_hex("00ff")

