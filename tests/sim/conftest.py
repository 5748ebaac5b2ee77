"""Fixtures for the simulator tests: a pool of worker processes for the schedule runs."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import scenarios  # noqa: E402


@pytest.fixture(scope="session")
def sim_pool() -> Iterator[ProcessPoolExecutor]:
    """Worker processes (one per CPU, at most 4) that run schedules in parallel."""
    pool = scenarios.worker_pool(max(1, min(4, os.cpu_count() or 1)))
    yield pool
    pool.shutdown(cancel_futures=True)
