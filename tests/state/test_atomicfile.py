"""oceanfed.atomicfile.write_atomic: the one way files are written whole."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from oceanfed.atomicfile import write_atomic
from oceanfed.statestore import write_json_atomic


def _fsynced_directories(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record which fsyncs are of directories (the writes themselves stay real)."""
    seen: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            seen.append("dir")
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return seen


def test_replaces_with_mode_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "f"
    write_atomic(target, b"one", mode=0o600, replace=False)
    with pytest.raises(FileExistsError):
        write_atomic(target, b"two", mode=0o600, replace=False)
    write_atomic(target, b"three", mode=0o640, replace=True)
    assert target.read_bytes() == b"three"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_the_directory_is_fsynced_unless_asked_not_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _fsynced_directories(monkeypatch)
    write_atomic(tmp_path / "durable", b"x", mode=0o644, replace=True)
    assert seen == ["dir"]
    seen.clear()
    write_atomic(tmp_path / "cheap", b"x", mode=0o644, replace=True, durable_dir=False)
    assert seen == [] and (tmp_path / "cheap").read_bytes() == b"x"


def test_status_json_is_written_whole_without_the_directory_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _fsynced_directories(monkeypatch)
    write_json_atomic(tmp_path / "status.json", {"height": 7})
    write_json_atomic(tmp_path / "status.json", {"height": 8})
    assert json.loads((tmp_path / "status.json").read_text()) == {"height": 8}
    assert seen == [] and [p.name for p in tmp_path.iterdir()] == ["status.json"]
