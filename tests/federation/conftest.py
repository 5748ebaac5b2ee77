"""Fixtures shared by the federation tests (real devnet and member processes)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from oceanfed_devnet.launcher import LocalFederation
from testsupport.federation import fast_rounds

FAST_ROUNDS = fast_rounds(0.2)


@pytest.fixture
def federation(tmp_path: Path) -> Iterator[LocalFederation]:
    fed = LocalFederation(tmp_path / "fed", 5, 3, block_time=0.3, rounds=FAST_ROUNDS)
    try:
        yield fed
    finally:
        fed.close()
