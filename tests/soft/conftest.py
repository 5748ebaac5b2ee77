"""Fixtures for the soft signer: the node's signing vectors and key files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from oceanfed.interfaces import MemberInfo, PluginContext
from testsupport.vectors import VECTORS


@pytest.fixture(scope="session")
def vector_keys() -> list[dict[str, str]]:
    if not (VECTORS / "keys.json").exists():
        pytest.skip(f"test vectors not found at {VECTORS}")
    return json.loads((VECTORS / "keys.json").read_text())["keys"]


@pytest.fixture(scope="session")
def signing_rounds() -> list[Path]:
    rounds = sorted((VECTORS / "signing").glob("*/sighash_dsha256_internal_order.hex"))
    if not rounds:
        pytest.skip(f"signing vectors not found at {VECTORS}")
    return [p.parent for p in rounds]


@pytest.fixture
def context_for(tmp_path: Path, vector_keys: list[dict[str, str]]):
    """A PluginContext for member ``index`` (1-based, as in keys.json) rooted at tmp_path."""

    def make(index: int) -> PluginContext:
        members = [
            MemberInfo(int(k["index"]) - 1, f"m{k['index']}", bytes.fromhex(k["pubkey_hex"]), b"")
            for k in vector_keys
        ]
        return PluginContext(
            member_index=index - 1,
            members=members,
            threshold=2,
            chain="ocean_test",
            base_dir=str(tmp_path),
        )

    return make


@pytest.fixture
def key_file(tmp_path: Path):
    """Write ``text`` to ``tmp_path/name`` with ``mode``; returns the relative name."""

    def make(text: str, name: str = "block.key", mode: int = 0o600) -> str:
        path = tmp_path / name
        path.write_text(text + "\n")
        path.chmod(mode)
        return name

    return make
