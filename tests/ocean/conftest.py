"""Fixtures over the real-node vectors (tests/data/ocean-vectors, or $OCEANFED_VECTORS)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from testsupport.vectors import VECTORS, block_keys, chain_files, transcripts


@dataclass(frozen=True)
class Round:
    name: str
    path: Path

    def text(self, file: str) -> str:
        return (self.path / file).read_text().strip()


def signing_rounds() -> list[Round]:
    return [Round(p.name, p) for p in sorted((VECTORS / "signing").iterdir()) if p.is_dir()]


def transcript_calls() -> list[tuple[str, dict]]:
    return [(name, call) for name, calls in transcripts().items() for call in calls]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``chain_path`` (every chain block), ``signed_path`` (all but genesis),
    ``signing_round`` (every signing round), ``python_sigs_round`` (rounds with
    python_sigs.json), ``combine_call`` / ``submit_call`` (recorded successful calls)."""
    if "chain_path" in metafunc.fixturenames:
        metafunc.parametrize("chain_path", chain_files(), ids=lambda p: p.name[:3])
    if "signed_path" in metafunc.fixturenames:
        metafunc.parametrize("signed_path", chain_files()[1:], ids=lambda p: p.name[:3])
    if "signing_round" in metafunc.fixturenames:
        metafunc.parametrize("signing_round", signing_rounds(), ids=lambda r: r.name)
    if "python_sigs_round" in metafunc.fixturenames:
        rounds = [r for r in signing_rounds() if (r.path / "python_sigs.json").exists()]
        metafunc.parametrize("python_sigs_round", rounds, ids=lambda r: r.name)
    for name, method in (("combine_call", "combineblocksigs"), ("submit_call", "submitblock")):
        if name in metafunc.fixturenames:
            calls = [
                (f, c)
                for f, c in transcript_calls()
                if c["request"]["method"] == method and c["response"]["error"] is None
            ]
            metafunc.parametrize(
                name,
                [c for _, c in calls],
                ids=[f"{f[:2]}:{c['node']}:{c['request']['id']}" for f, c in calls],
            )


@pytest.fixture(scope="session")
def vectors() -> Path:
    return VECTORS


@pytest.fixture(scope="session")
def chain_blocks() -> list[Path]:
    return chain_files()


@pytest.fixture(scope="session")
def rounds() -> list[Round]:
    return signing_rounds()


@pytest.fixture(scope="session")
def keys() -> list[bytes]:
    return block_keys()


@pytest.fixture(scope="session")
def challenge() -> bytes:
    return bytes.fromhex((VECTORS / "signblockscript.hex").read_text().strip())


@pytest.fixture(scope="session")
def chain_json() -> list[dict]:
    return json.loads((VECTORS / "chain" / "chain.json").read_text())
