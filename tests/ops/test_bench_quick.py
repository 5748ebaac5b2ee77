"""``oceanfed bench --quick`` measures the figures a user checks first (timings not tested)."""

from __future__ import annotations

import json
import os

import pytest

from testsupport.cli import oceanfed

pytestmark = pytest.mark.slow


REFERENCE = {"reference/secp256k1_verify", "reference/frame_seal/prevote",
             "reference/frame_open/prevote", "reference/python"}


def test_quick_bench_gives_reference_speeds_flush_floor_and_3of5_latency_durable_and_tmpfs() -> None:
    out = oceanfed("bench", "--quick", "--json", "--blocks", "4", timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    figures = {f["name"]: f for f in json.loads(out.stdout)}
    expected = REFERENCE | {"flush_floor/disk", "round_latency/zmq/soft/3of5"}
    if os.path.isdir("/dev/shm"):
        expected |= {"flush_floor/tmpfs", "round_latency/zmq/soft/3of5/tmpfs-state"}
    assert set(figures) == expected
    for name, f in figures.items():
        if name in REFERENCE:
            assert f["unit"] == "µs" and f["median"] > 0 and f["n"] == 40 and f["note"], f
            continue
        assert f["unit"] == "ms" and f["median"] > 0, f
        assert f["n"] == (200 if name.startswith("flush") else 4), f


def test_reference_alone_prints_a_table_of_the_four_figures() -> None:
    out = oceanfed("bench", "--only", "reference", timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [line.split("|")[1].strip() for line in out.stdout.splitlines()
            if line.startswith("| reference/")]
    assert set(rows) == REFERENCE and len(rows) == 4


def test_blocks_must_be_positive() -> None:
    out = oceanfed("bench", "--quick", "--blocks", "0")
    assert out.returncode == 1 and out.stderr.strip() == "oceanfed: error: --blocks must be at least 1"
