"""The real chain replayed into a devnet created from the vectors' genesis block."""

from __future__ import annotations

import base64
import http.client
import json

import pytest

from oceanfed.crypto import sign_digest
from oceanfed.errors import RPCError
from oceanfed.ocean.block import Block
from oceanfed.ocean.proof import build_solution

#: fields that depend on the tip at the time of the call
MOVING = {"confirmations", "nextblockhash"}


def test_replay_vector_chain(vector_devnet, vector_chain, transcripts) -> None:
    c = vector_devnet.client("m1")
    assert c.call("getblockhash", 0) == Block.from_hex(vector_chain[0]).hash_hex()
    for height, block_hex in enumerate(vector_chain[1:], start=1):
        assert c.call("submitblock", block_hex) is None, height
        assert c.call("getblockcount") == height
    tip = Block.from_hex(vector_chain[-1])
    assert c.call("getbestblockhash") == tip.hash_hex() and c.call("getblockcount") == 19
    # Every block and header as the real node served them.
    dump = transcripts["40_final_dump.json"]
    for call in dump:
        method, params = call["request"]["method"], call["request"]["params"]
        if method in ("getblockhash", "getblock", "getblockheader"):
            assert c.call(method, *params) == call["response"]["result"], (method, params)
    # Verbose answers agree with the node's on every stable field.
    for name in ("00_basics.json", "10_round1_node_sigs.json", "18_end.json"):
        for call in transcripts[name]:
            method, params = call["request"]["method"], call["request"]["params"]
            result = call["response"]["result"]
            if method in ("getblock", "getblockheader") and isinstance(result, dict):
                ours = c.call(method, *params)
                for key, value in result.items():
                    if key not in MOVING and key != "mediantime":
                        assert ours[key] == value, (name, method, key)
                assert ours["mediantime"] <= ours["time"]
    info = c.call("getblockchaininfo")
    assert (info["chain"], info["blocks"], info["bestblockhash"]) == (
        "ocean_test",
        19,
        tip.hash_hex(),
    )
    # A new proposal carries the genesis contract hash.
    proposal = Block.from_hex(c.call("getnewblockhex"))
    assert proposal.header.contract_hash[::-1].hex().startswith("858ab0fb")
    assert (
        proposal.header.prev_hash == tip.header.digest() and proposal.header.time > tip.header.time
    )


def test_replay_rejects_then_accepts_like_the_node(
    vector_devnet, vector_chain, vector_keys, transcripts
) -> None:
    c = vector_devnet.client("m0")
    for block_hex in vector_chain[1:14]:
        assert c.call("submitblock", block_hex) is None
    # h014: the unsigned proposal, then its stale sibling once block 14 is in.
    calls = transcripts["21_stale_proposal.json"]
    proposal = calls[0]["response"]["result"]
    assert c.call("testproposedblock", proposal) is None
    unsigned = Block.from_hex(proposal)
    assert c.call("submitblock", proposal) == "block-proof-invalid"
    assert c.call("submitblock", vector_chain[14]) is None
    with pytest.raises(RPCError) as info:
        c.call("testproposedblock", proposal)
    assert info.value.code == -25 and "proposal was not based on our best chain" in str(info.value)
    sibling = unsigned.with_solution(
        build_solution(sign_digest(k, unsigned.header.digest()) for k in vector_keys[:2])
    )
    assert sibling.hash_hex() == "33128de9bc4d2e375705d66ca80801fe41d8f701872d21fd206879aeeadf3b11"
    assert c.call("submitblock", sibling.block_hex()) == "inconclusive"
    assert c.call("getbestblockhash") == Block.from_hex(vector_chain[14]).hash_hex()
    assert c.call("submitblock", vector_chain[0]) == "duplicate-inconclusive"


def test_signblock_on_vector_devnet_matches_the_node(vector_devnet, transcripts) -> None:
    calls = transcripts["10_round1_node_sigs.json"]
    proposal = calls[0]["response"]["result"]
    for member, call in zip(("m0", "m1", "m2"), calls[2:5], strict=True):
        assert call["request"]["method"] == "signblock"
        assert (
            vector_devnet.client(member).call("signblock", proposal) == call["response"]["result"]
        )
    combine = calls[6]
    assert (
        vector_devnet.client().call("combineblocksigs", *combine["request"]["params"])
        == combine["response"]["result"]
    )


def test_errors_match_transcripts(vector_devnet, facts, transcripts) -> None:
    c = vector_devnet.client()
    stale = facts["stale2"]
    for method in ("testproposedblock", "submitblock", "signblock"):
        with pytest.raises(RPCError) as info:
            c.call(method, "00ff")
        assert info.value.code == stale[f"{method}_garbage"][1]["code"] == -22
        assert "Block decode failed" in str(info.value)
    with pytest.raises(RPCError) as info:
        c.call("combineblocksigs", "00ff", [])
    assert info.value.code == -22
    expected = stale["combine_one_param"][1]
    reply = _raw_call(
        vector_devnet, "combineblocksigs", [vector_devnet.client().call("getnewblockhex")]
    )
    assert reply == (500, {"result": None, "error": expected, "id": 1})
    generate = transcripts["40_final_dump.json"][0]
    assert _raw_call(vector_devnet, "generate", [1]) == (
        generate["http_status"],
        {**generate["response"], "id": 1},
    )
    status, body = _raw_call(vector_devnet, "nosuchmethod", [])
    assert status == 404 and body["error"]["code"] == -32601
    status, body = _raw_call(vector_devnet, "getblockhash", [99])
    assert status == 500 and body["error"] == {"code": -8, "message": "Block height out of range"}


def _raw_call(dn, method: str, params: list) -> tuple[int, dict]:
    port = dn.layout.rpc_ports[0]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    auth = base64.b64encode(f"m0:{dn.layout.password('m0')}".encode()).decode()
    body = json.dumps({"jsonrpc": "1.0", "id": 1, "method": method, "params": params})
    conn.request("POST", "/", body, {"Authorization": f"Basic {auth}"})
    resp = conn.getresponse()
    out = resp.status, json.loads(resp.read())
    conn.close()
    return out
