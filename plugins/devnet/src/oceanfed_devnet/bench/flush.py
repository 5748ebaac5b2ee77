"""The flush floor: what one durable state save costs on a given directory's disk."""

from __future__ import annotations

import tempfile
import time
from typing import Any

from oceanfed.statestore import StateStore
from oceanfed_devnet.bench.figures import Figure, figure


def flush_floor(directory: str, label: str, n: int = 200) -> Figure:
    """Median/p99 milliseconds of one :meth:`StateStore.save` (one SQLite WAL commit)."""
    with tempfile.TemporaryDirectory(dir=directory) as d:
        store = StateStore(d)
        record = {"sign_state": {"height": 0, "block_hash": "00" * 32, "parent": None},
                  "height_state": {"height": 1, "round": 0, "sent": []}}
        times = []
        try:
            for i in range(n):
                record["height_state"]["round"] = i
                t = time.perf_counter()
                store.save(record)
                times.append((time.perf_counter() - t) * 1000)
        finally:
            store.close()
    return figure(f"flush_floor/{label}", "ms", times)


def height_record(height: int, block_hex: str, frame_hex: str, step: int) -> dict[str, Any]:
    """A record shaped like ``Machine``'s at one step of a height: a block locked and valid,
    its proposal frame (the block again, plus an envelope), our votes and evidence.

    As in ``Machine.record``, the block hex and the proposal frame's hex (the machine keeps
    each frame's hex once made) are the same strings at every step of a height.
    """
    block_hash = f"{height:064x}"
    votes = [[r // 2, ("prevote", "precommit")[r % 2], block_hash] for r in range(step + 1)]
    return {
        "sign_state": {"height": height - 1, "block_hash": f"{height - 1:064x}", "parent": None},
        "height_state": {
            "height": height, "parent": f"{height - 1:064x}", "round": step // 2,
            "locked": [block_hash, 0], "valid": [block_hash, 0], "decided": None,
            "blocks": {block_hash: block_hex}, "extras": {}, "sent": votes,
            "evidence": ["ab" * 180] * 2,
            "proposals": {block_hash: frame_hex},
        },
    }


def flush_by_block_size(directory: str, label: str, heights: int = 20, steps: int = 10) -> list[Figure]:
    """One save per step with a ~2 KB and a ~1 MB block, and the ratio of their medians.

    Each height stores its block once (the first step); the other steps only change votes
    and round, so their saves should cost the same whatever the block size.
    """
    figures = []
    for name, size in (("2KB", 2_000), ("1MB", 1_000_000)):
        times = []
        with tempfile.TemporaryDirectory(dir=directory) as d:
            store = StateStore(d)
            try:
                for height in range(1, heights + 1):
                    block_hex = f"{height % 256:02x}" * size
                    frame_hex = (bytes(200) + bytes.fromhex(block_hex)).hex()
                    for step in range(steps):
                        record = height_record(height, block_hex, frame_hex, step)
                        t = time.perf_counter()
                        store.save(record)
                        times.append((time.perf_counter() - t) * 1000)
            finally:
                store.close()
        figures.append(figure(f"flush_step/{label}/block-{name}", "ms", times,
                              note=f"{steps} steps per height, the block stored at the first"))
    small, big = figures
    ratio = big.median / small.median if small.median else float("nan")
    figures.append(Figure(f"flush_step/{label}/1MB-vs-2KB", "x", round(ratio, 2), None, 1,
                          "median 1 MB-block save / median 2 KB-block save (target <= 2)"))
    return figures
