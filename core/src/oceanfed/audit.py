"""Audit a chain against the members' sign-state records.

Used by the tests and by operators after an incident: every block must carry a valid
proof, heights must chain, every signature in a block must be covered by that member's
persisted sign-state, and no member may have agreed to sign a block other than the
chain's at any height.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from oceanfed import crypto
from oceanfed.ocean.header import BlockHeader
from oceanfed.ocean.proof import check_header_proof
from oceanfed.ocean.script import iter_ops, parse_multisig


def chain_headers(node: Any, start: int = 0) -> list[BlockHeader]:
    """The headers of the node's chain from height ``start`` to its tip (``node`` is a
    NodeClient)."""
    tip = int(node.call("getblockcount"))
    return [
        BlockHeader.from_hex(node.call("getblockheader", node.call("getblockhash", h), False))
        for h in range(start, tip + 1)
    ]


def signers_of(header: BlockHeader) -> list[int]:
    """Member indexes (script order) whose signatures are in a block's solution."""
    _, pubkeys = parse_multisig(header.challenge)
    pushes = [data for _, data in iter_ops(header.solution)][1:]
    found = []
    for sig in pushes:
        for i, pk in enumerate(pubkeys):
            if crypto.verify_digest(pk, header.digest(), sig or b"", lax=True):
                found.append(i)
                break
    return found


def read_signed(state_dir: str | Path) -> dict[int, str]:
    """A member's ``signed`` audit table, opened read-only (the member may be running)."""
    path = Path(state_dir) / "state.sqlite3"
    if not path.exists():
        return {}
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return dict(db.execute("SELECT height, block_hash FROM signed"))
    finally:
        db.close()


def audit_chain(
    headers: list[BlockHeader], threshold: int, signed: Mapping[str, Mapping[int, str]],
    names: list[str], start: int = 0,
) -> list[str]:
    """Problems found (empty when all is well). ``signed`` maps member name to its table;
    ``headers[0]`` is the block at height ``start`` (genesis by default)."""
    problems: list[str] = []
    for offset, header in enumerate(headers):
        height = start + offset
        if header.height != height:
            problems.append(f"block {height} says height {header.height}")
        if height == 0 or offset == 0:
            continue
        if header.prev_hash != headers[offset - 1].digest():
            problems.append(f"block {height} does not build on block {height - 1}")
        if not check_header_proof(header):
            problems.append(f"block {height} does not carry a valid proof")
        signers = signers_of(header)
        if len(signers) < threshold:
            problems.append(f"block {height} has {len(signers)} signatures, needs {threshold}")
        for i in signers:
            name = names[i]
            if name in signed and signed[name].get(height) != header.hash_hex():
                problems.append(f"{name} signed block {height} but its sign-state does not record it")
    for name, table in signed.items():
        for height, block_hash in sorted(table.items()):
            if start <= height < start + len(headers) and block_hash != headers[height - start].hash_hex():
                problems.append(f"{name} agreed to sign {block_hash} at {height}; the chain has another block")
    return problems
