"""This machine's speed at a member's own unit of work, so that runs on different machines
can be compared: what a figure owes to the code and what to the cores it ran on.

A member's CPU per block is mostly opening frames (parse, hash, one secp256k1 check each),
sealing its own, and the interpreter running the machine between them. These figures time
exactly those on their own, with nothing else of the federation running.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable

import coincurve

from oceanfed import wire
from oceanfed.crypto import public_key
from oceanfed_devnet.bench.figures import Figure, figure, per_second

#: calls per timed batch, and batches per figure
BATCH = 50
BATCHES = 40


def _per_call_us(fn: Callable[[], object]) -> list[float]:
    """Microseconds per call of ``fn()``, one value per batch of :data:`BATCH` calls."""
    return [1e6 / rate for rate in per_second(fn, BATCH * BATCHES, BATCHES)]


def _interpreter_work(i: int) -> int:
    """A fixed piece of plain Python of the kind the machine runs: dict and tuple traffic,
    attribute-free arithmetic and a small sort."""
    counts: dict[tuple[int, int], int] = {}
    for j in range(200):
        key = (j % 7, (i + j) % 5)
        counts[key] = counts.get(key, 0) + j
    return sorted(counts.values())[-1]


def reference_figures() -> list[Figure]:
    """``reference/*``: one secp256k1 check, sealing and opening a prevote frame (a frame
    not seen before, so its signature is checked), and a fixed piece of plain Python."""
    key = coincurve.PrivateKey(os.urandom(32))
    pub = key.public_key.format()
    chain = "bench"
    payload = {"hash": os.urandom(32).hex()}
    frames = iter([wire.encode(key, chain, 0, h, 0, "prevote", payload)
                   for h in range(BATCH * BATCHES)])
    heights, calls = itertools.count(), itertools.count()
    digest = os.urandom(32)
    sig = key.sign(digest, hasher=None)
    public = public_key(pub)
    keys = [pub]

    def verify() -> object:
        return public.verify(sig, digest, hasher=None)

    def seal() -> object:
        return wire.encode(key, chain, 0, next(heights), 0, "prevote", payload)

    def open_frame() -> object:
        return wire.decode(next(frames), keys, chain)

    def interpret() -> object:
        return _interpreter_work(next(calls))

    return [
        figure("reference/secp256k1_verify", "µs", _per_call_us(verify),
               note="coincurve, one signature check"),
        figure("reference/frame_seal/prevote", "µs", _per_call_us(seal),
               note="encode and sign one vote frame"),
        figure("reference/frame_open/prevote", "µs", _per_call_us(open_frame),
               note="parse, hash and check a vote frame not seen before"),
        figure("reference/python", "µs", _per_call_us(interpret),
               note="a fixed piece of plain Python (interpreter speed)"),
    ]
