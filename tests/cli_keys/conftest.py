"""Fixtures for key files and the keygen/script/plugins commands."""

from __future__ import annotations

import json
import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from testsupport.cli import oceanfed as run_oceanfed
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
def oceanfed() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the ``oceanfed`` command in a subprocess; returns the CompletedProcess."""
    return run_oceanfed


def install_hook_dist(site: Path, name: str, version: str, entry: str) -> None:
    """Install a tiny distribution ``name`` into ``site``: its module is an ``oceanfed.hooks``
    entry point ``entry`` whose ``validate_proposal`` vetoes heights above 10 ("too-tall")."""
    module = name.replace("-", "_")
    info = site / f"{module}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[oceanfed.hooks]\n{entry} = {module}\n")
    (site / f"{module}.py").write_text(
        textwrap.dedent("""
        from oceanfed.hookspecs import hookimpl

        @hookimpl
        def validate_proposal(height, block_hex, extras):
            return "too-tall" if height > 10 else None
    """)
    )
