"""Fixtures for key files and the keygen/script/plugins commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parents[2]
_CANDIDATES = [
    os.environ.get("OCEANFED_VECTORS", ""),
    str(_REPO.parent / "shared/ocean/vectors"),
    "/work/shared/ocean/vectors",
]
VECTORS = next(
    (Path(c) for c in _CANDIDATES if c and Path(c, "keys.json").exists()), Path(_CANDIDATES[1])
)


@pytest.fixture(scope="session")
def vector_keys() -> list[dict[str, str]]:
    path = VECTORS / "keys.json"
    if not path.exists():
        pytest.skip(f"test vectors not found at {VECTORS}")
    return json.loads(path.read_text())["keys"]


@pytest.fixture(scope="session")
def vector_script() -> str:
    return (VECTORS / "signblockscript.hex").read_text().strip()


@pytest.fixture
def oceanfed():
    """Run the ``oceanfed`` command in a subprocess; returns the CompletedProcess."""

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "oceanfed.cli.main", *args],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **(env or {})},
        )

    return run
