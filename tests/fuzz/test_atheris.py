"""Run each fuzz target under atheris (coverage-guided) for a bounded number of inputs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import targets  # noqa: E402

pytest.importorskip("atheris")

HERE = Path(__file__).resolve().parent


@pytest.mark.parametrize("name", list(targets.TARGETS))
def test_atheris(name: str, tmp_path: Path, soak: bool) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, data in enumerate(targets.seed_frames() + targets.seed_blocks()):
        (corpus / f"seed{i}").write_bytes(data)
    runs = 2_000_000 if soak else 20_000
    seconds = 600 if soak else 25
    proc = subprocess.run(
        [sys.executable, str(HERE / "atheris_fuzz.py"), name, f"-runs={runs}",
         f"-max_total_time={seconds}", "-timeout=5", "-rss_limit_mb=2048",
         f"-artifact_prefix={tmp_path}/", str(corpus)],
        capture_output=True, text=True, timeout=seconds + 120,
    )
    tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-25:])
    assert proc.returncode == 0, tail
    done = [line for line in proc.stderr.splitlines() if line.startswith("#") and "DONE" in line]
    print(f"\natheris {name}: {done[-1] if done else tail.splitlines()[-1]}")
