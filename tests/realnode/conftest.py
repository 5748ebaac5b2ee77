"""Fixtures of the real-node tests (marker ``realnode``): ``oceand`` built by scripts/oceand.sh.

Without the binaries these tests skip, saying how to build them, except in CI
(``CI=true``), where their absence is a failure: CI builds the node first.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from oceanfed_devnet.oceand import BINDIR_ENV, OceandNet, bindir_available, create_oceand_devnet


@pytest.fixture(scope="session")
def oceand_bindir() -> Path:
    found = bindir_available()
    if found is None:
        where = os.environ.get(BINDIR_ENV) or "the build cache"
        if os.environ.get("CI") == "true":
            pytest.fail(f"oceand is not built ({where}); CI must run scripts/oceand.sh first")
        pytest.skip(f"oceand is not built ({where}): run scripts/oceand.sh")
    return found


@pytest.fixture(autouse=True)
def _needs_oceand(oceand_bindir: Path) -> None:
    """Every test here needs the binaries."""


@pytest.fixture
def net23(tmp_path: Path) -> Iterator[OceandNet]:
    """A started 2-of-3 chain of real nodes, no federation members running."""
    layout = create_oceand_devnet(tmp_path / "net", 3, 2)
    with OceandNet(layout) as net:
        net.start()
        yield net

