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
    # CI replays one fixed mutation sequence, so a failure there reproduces with the same
    # seed; a soak run (--soak) explores with a fresh seed each time, for far longer.
    runs, seconds, seed = (2_000_000, 600, 0) if soak else (20_000, 25, 1)
    proc = subprocess.run(
        [sys.executable, str(HERE / "atheris_fuzz.py"), name, f"-runs={runs}",
         f"-max_total_time={seconds}", f"-seed={seed}", "-timeout=5", "-rss_limit_mb=2048",
         f"-artifact_prefix={tmp_path}/", str(corpus)],
        capture_output=True, text=True, timeout=seconds + 120,
    )
    output = proc.stdout + proc.stderr
    # atheris prints the Python traceback on stdout and libFuzzer's summary on stderr
    crash = output[output.find("=== Uncaught"):] if "=== Uncaught" in output else output[-3000:]
    assert proc.returncode == 0, crash
    done = [line for line in proc.stderr.splitlines() if line.startswith("#") and "DONE" in line]
    print(f"\natheris {name}: {done[-1] if done else output.splitlines()[-1]}")
