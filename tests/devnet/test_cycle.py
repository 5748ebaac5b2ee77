"""A devnet process driven through JSON-RPC: proposals, signing, combining, submitting."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest

from oceanfed.crypto import (
    pubkey_of,
    sign_digest,
    verify_digest,
    wrap_scriptsig,
)
from oceanfed.errors import RPCError
from oceanfed.ocean.block import Block
from oceanfed.ocean.encoding import push_data
from oceanfed.ocean.proof import build_solution, check_header_proof
from testsupport.signatures import high_s, padded_der


def signed(block: Block, keys: list[bytes]) -> Block:
    """``block`` with a canonical solution from ``keys`` (given in script order)."""
    return block.with_solution(build_solution(sign_digest(k, block.header.digest()) for k in keys))


def test_full_sign_combine_submit_cycle(devnet) -> None:
    c = devnet.clients()
    genesis = Block.from_hex(c[0].call("getblock", c[0].call("getblockhash", 0), False))
    assert "devnet ready:" in devnet.ready_line
    for height in (1, 2, 3):
        proposal = c[height % 5].call("getnewblockhex")
        block = Block.from_hex(proposal)
        h = block.header
        assert (h.version, h.height, h.solution) == (0x20000000, height, b"")
        assert h.attestation_hash == h.mapping_hash == bytes(32)
        assert h.contract_hash == genesis.header.contract_hash
        assert h.challenge == genesis.header.challenge
        parent = c[0].call("getblockheader", c[0].call("getbestblockhash"))
        assert h.time > parent["time"] and h.prev_hash[::-1].hex() == parent["hash"]
        assert block.compute_merkle_root() == h.merkle_root
        for client in c:
            assert client.call("testproposedblock", proposal) is None
        sigs = [client.call("signblock", proposal) for client in c]
        for name, sig in zip(devnet.layout.members, sigs, strict=True):
            der = bytes.fromhex(sig)[2:]
            assert wrap_scriptsig(der).hex() == sig
            assert verify_digest(pubkey_of(devnet.key(name)), h.digest(), der)
        partial = c[0].call("combineblocksigs", proposal, sigs[:2])
        assert partial["complete"] is False
        assert c[1].call("submitblock", partial["hex"]) == "block-proof-invalid"
        done = c[0].call("combineblocksigs", partial["hex"], sigs[2:])
        assert done["complete"] is True
        full = Block.from_hex(done["hex"])
        assert check_header_proof(full.header) and full.hash_hex() == block.hash_hex()
        assert c[4].call("submitblock", done["hex"]) is None
        for client in c:
            assert client.call("getblockcount") == height
            assert client.call("getbestblockhash") == block.hash_hex()
        assert c[2].call("submitblock", done["hex"]) == "duplicate"
        with pytest.raises(RPCError) as info:
            c[3].call("testproposedblock", proposal)
        assert (info.value.code, str(info.value)) == (
            -25,
            "testproposedblock: already have block (code -25)",
        )
        with pytest.raises(RPCError, match="already have block"):
            c[3].call("signblock", proposal)
    info = c[0].call("getblockchaininfo")
    assert (info["chain"], info["blocks"]) == ("ocean_test", 3)
    assert info["bestblockhash"] == c[0].call("getblockhash", 3)


def test_stale_proposal_and_signed_sibling(devnet) -> None:
    c = devnet.client()
    keys = [devnet.key(n) for n in devnet.layout.members[:3]]
    a = Block.from_hex(c.call("getnewblockhex"))
    b = replace(a, header=replace(a.header, time=a.header.time + 7))
    assert a.hash_hex() != b.hash_hex()
    assert c.call("submitblock", signed(a, keys).block_hex()) is None
    with pytest.raises(RPCError) as info:
        c.call("testproposedblock", b.block_hex())
    assert (info.value.code, "proposal was not based on our best chain" in str(info.value)) == (
        -25,
        True,
    )
    with pytest.raises(RPCError, match="proposal was not based on our best chain"):
        c.call("signblock", b.block_hex())
    assert c.call("submitblock", signed(b, keys).block_hex()) == "inconclusive"
    assert c.call("getblockcount") == 1 and c.call("getbestblockhash") == a.hash_hex()
    tips = c.call("getchaintips")
    assert tips[0] == {"height": 1, "hash": a.hash_hex(), "branchlen": 0, "status": "active"}
    assert {t["hash"] for t in tips} == {a.hash_hex(), b.hash_hex()}
    # The sibling's branch becomes the longest: the devnet reorganises onto it.
    nxt = Block.from_hex(c.call("getnewblockhex"))
    child = replace(
        nxt, header=replace(nxt.header, prev_hash=b.header.digest(), time=b.header.time + 1)
    )
    assert c.call("submitblock", signed(child, keys).block_hex()) is None
    assert c.call("getblockhash", 1) == b.hash_hex() and c.call("getblockcount") == 2


def test_bad_blocks_rejected_with_reasons(devnet) -> None:
    c = devnet.client()
    keys = [devnet.key(n) for n in devnet.layout.members[:3]]
    block = Block.from_hex(c.call("getnewblockhex"))
    cases = {
        "bad-txnmrklroot": replace(block, header=replace(block.header, merkle_root=bytes(32))),
        "bad-height": replace(block, header=replace(block.header, height=5)),
        "bad-diffbits": replace(block, header=replace(block.header, challenge=b"\x51")),
        "time-too-old": replace(block, header=replace(block.header, time=1)),
    }
    for reason, bad in cases.items():
        with pytest.raises(RPCError) as info:
            c.call("testproposedblock", bad.block_hex())
        assert info.value.code == -25 and reason in str(info.value), reason
        if reason != "bad-diffbits":  # a foreign challenge cannot be signed for
            assert c.call("submitblock", signed(bad, keys).block_hex()) == reason
    orphan = replace(block, header=replace(block.header, prev_hash=b"\x11" * 32))
    assert c.call("submitblock", signed(orphan, keys).block_hex()) == "bad-prevblk"
    assert c.call("getblockcount") == 0


def _variants(keys: list[bytes], block: Block) -> dict[str, tuple[bytes, bool]]:
    """FACTS.md's table for an M-of-N devnet, signing with the first M keys."""
    digest = block.header.digest()
    sigs = [sign_digest(k, digest) for k in keys]
    m = len(keys) - 1
    use = sigs[:m]
    high = [high_s(sig) for sig in use]
    padded = padded_der(use[0])
    return {
        "high_s": (build_solution(high), True),
        "nonnull_dummy": (b"\x51" + b"".join(map(push_data, use)), True),
        "hashtype_appended": (build_solution([s + b"\x01" for s in use]), True),
        "nonstrict_der": (build_solution([padded, *use[1:]]), True),
        "extra_sig_as_dummy": (b"".join(map(push_data, sigs)), True),
        "missing_dummy": (b"".join(map(push_data, use)), False),
        "wrong_order": (build_solution(use[::-1]), False),
    }


def test_proof_variants_table(devnet) -> None:
    c = devnet.client()
    keys = [devnet.key(n) for n in devnet.layout.members[:4]]  # M = 3, plus one extra
    block = Block.from_hex(c.call("getnewblockhex"))
    table = _variants(keys, block)
    for name, (solution, accepted) in table.items():
        if not accepted:
            assert (
                c.call("submitblock", block.with_solution(solution).block_hex())
                == "block-proof-invalid"
            ), name
    height = 0
    for name, (_, accepted) in table.items():
        if accepted:
            block = Block.from_hex(c.call("getnewblockhex"))
            solution = _variants(keys, block)[name][0]
            assert c.call("submitblock", block.with_solution(solution).block_hex()) is None, name
            height += 1
            assert c.call("getblockcount") == height


def test_concurrent_submits_accept_once(devnet) -> None:
    keys = [devnet.key(n) for n in devnet.layout.members[:3]]
    block = signed(Block.from_hex(devnet.client().call("getnewblockhex")), keys).block_hex()
    results: list[object] = []
    lock = threading.Lock()

    def submit(name: str) -> None:
        r = devnet.client(name).call("submitblock", block)
        with lock:
            results.append(r)

    threads = [threading.Thread(target=submit, args=(n,)) for n in devnet.layout.members * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(map(str, results)) == ["None"] + ["duplicate"] * 9


def test_restart_keeps_the_tip(devnet) -> None:
    c = devnet.client()
    keys = [devnet.key(n) for n in devnet.layout.members[:3]]
    for _ in range(3):
        assert (
            c.call(
                "submitblock", signed(Block.from_hex(c.call("getnewblockhex")), keys).block_hex()
            )
            is None
        )
    tip, count = c.call("getbestblockhash"), c.call("getblockcount")
    assert devnet.stop() == 0
    devnet.start()
    c2 = devnet.client()
    assert (c2.call("getbestblockhash"), c2.call("getblockcount")) == (tip, count)
    assert f"height {count} tip {tip}" in devnet.ready_line
    assert (
        c2.call("submitblock", signed(Block.from_hex(c2.call("getnewblockhex")), keys).block_hex())
        is None
    )


def test_throughput_figure(devnet) -> None:
    """Prints blocks/s for a sequential propose/test/submit loop (no timed assertion)."""
    c = devnet.clients()
    keys = [devnet.key(n) for n in devnet.layout.members[:3]]
    n = 60
    start = time.perf_counter()
    for _ in range(n):
        proposal = c[0].call("getnewblockhex")
        for client in c:
            client.call("testproposedblock", proposal)
        assert c[1].call("submitblock", signed(Block.from_hex(proposal), keys).block_hex()) is None
    rate = n / (time.perf_counter() - start)
    print(
        f"\ndevnet: {rate:.0f} blocks/s (getnewblockhex + 5 testproposedblock + submitblock each)"
    )
    assert c[0].call("getblockcount") == n


def test_restart_keeps_the_mempool(devnet) -> None:
    """A pending transaction survives a clean stop and start, as with the node's
    mempool.dat, and is mined afterwards."""
    c = devnet.client()
    txid = c.call("sendtoaddress", devnet.client("m1").call("getnewaddress"), 2.5)
    assert c.call("getrawmempool") == [txid]
    assert devnet.stop() == 0
    devnet.start()
    c2 = devnet.client()
    assert c2.call("getrawmempool") == [txid]
    keys = [devnet.key(n) for n in devnet.layout.members[:3]]
    block = signed(Block.from_hex(c2.call("getnewblockhex")), keys)
    assert [t.txid_hex() for t in block.txs[1:]] == [txid]
    assert c2.call("submitblock", block.block_hex()) is None
    assert c2.call("getrawmempool") == []


def test_stopped_devnet_hangs_up_kept_alive_connections(tmp_path) -> None:
    """After stop, a connection kept alive from before gets no answer (the chain behind
    it is closed), not an internal error."""
    import base64
    import http.client
    import json

    from oceanfed_devnet.setup import create_devnet, start_devnet

    layout, server = start_devnet(create_devnet(tmp_path / "dn", members=3, threshold=2).dir)
    auth = base64.b64encode(f"m0:{layout.password('m0')}".encode()).decode()
    conn = http.client.HTTPConnection("127.0.0.1", layout.port("m0"), timeout=10)
    body = json.dumps({"method": "getblockcount", "params": [], "id": 1})

    def call() -> int:
        conn.request("POST", "/", body, {"Authorization": f"Basic {auth}"})
        response = conn.getresponse()
        return int(json.loads(response.read())["result"])

    try:
        assert call() == 0
    finally:
        server.stop()
    with pytest.raises((http.client.HTTPException, OSError)):
        call()
    conn.close()
