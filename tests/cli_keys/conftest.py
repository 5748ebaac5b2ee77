"""Fixtures for key files and the keygen/script/plugins commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from testsupport.vectors import VECTORS


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
