"""The real-node vectors travel with the repository; ``OCEANFED_VECTORS`` overrides them."""

from __future__ import annotations

from pathlib import Path

import pytest

from testsupport import vectors


def test_the_bundled_copy_is_the_default_and_complete(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OCEANFED_VECTORS", raising=False)
    found = vectors.find_vectors()
    assert found == vectors.REPO / "tests" / "data" / "ocean-vectors"
    assert (found / "keys.json").is_file() and (found / "signblockscript.hex").is_file()
    assert len(list((found / "chain").glob("*.blockhex"))) == 20
    assert len([p for p in (found / "signing").iterdir() if p.is_dir()]) == 18
    assert "v2.1.1.1" in (found / "README.md").read_text()


def test_the_environment_overrides_the_bundled_copy(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OCEANFED_VECTORS", str(tmp_path))
    assert vectors.find_vectors() == tmp_path
