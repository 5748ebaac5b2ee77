"""A benchmark figure (median and p99 over repeated measurements) and its table."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class Figure:
    name: str
    unit: str
    median: float
    p99: float | None
    n: int
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if not d["note"]:
            del d["note"]
        return d


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(q * (len(s) - 1)))))]


def per_second(fn: Callable[[], object], n: int, batches: int = 7) -> list[float]:
    """Calls per second of ``fn()``, one value per batch, over ``batches`` batches of
    ``n // batches`` calls."""
    rates = []
    per = max(1, n // batches)
    for _ in range(batches):
        t = time.perf_counter()
        for _ in range(per):
            fn()
        rates.append(per / (time.perf_counter() - t))
    return rates


def figure(name: str, unit: str, values: list[float], note: str = "", p99: bool = True) -> Figure:
    """Median (and p99) of ``values``; an empty list gives a NaN figure with a note."""
    if not values:
        return Figure(name, unit, float("nan"), None, 0, note or "no samples")
    return Figure(
        name, unit, round(statistics.median(values), 3),
        round(percentile(values, 0.99), 3) if p99 else None, len(values), note,
    )


def table(figures: list[Figure]) -> str:
    """A plain-text table (also valid Markdown)."""
    rows = [("figure", "unit", "median", "p99", "n", "note")]
    for f in figures:
        rows.append((f.name, f.unit, f"{f.median:g}", "" if f.p99 is None else f"{f.p99:g}",
                     str(f.n), f.note))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)
