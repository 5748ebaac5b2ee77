"""Shared pieces of the federation tests: fast round timing and a whole-chain check."""

from __future__ import annotations

import tomllib

from oceanfed.ocean.block import Block
from oceanfed.ocean.proof import check_proof
from oceanfed_devnet.launcher import LocalFederation


def fast_rounds(step: float) -> dict[str, float]:
    """A ``[rounds]`` table for loopback tests: proposals wait ``4 * step``, votes
    ``2 * step``, every round adds ``step``; gossip every ``step``, tip polls every 0.2 s."""
    return {
        "propose_timeout": 4 * step,
        "prevote_timeout": 2 * step,
        "precommit_timeout": 2 * step,
        "timeout_step": step,
        "gossip_interval": step,
        "tip_poll_interval": 0.2,
    }


def signblockscript(fed: LocalFederation) -> bytes:
    """The signblockscript in the first member's fed.toml."""
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
