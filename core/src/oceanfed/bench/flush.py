"""The flush floor: what one durable state save costs on a given directory's disk."""

from __future__ import annotations

import tempfile
import time

from oceanfed.bench.figures import Figure, figure
from oceanfed.statestore import StateStore


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
