"""A config file that is not UTF-8, and output into a closed pipe: one line or silence,
never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from oceanfed_devnet.setup import create_devnet
from testsupport.cli import oceanfed


def test_a_non_utf8_config_is_one_line_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "fed.toml"
    path.write_bytes(b"[federation]\nchain = \"caf\xe9\"\n")
    expected = (f"{path}: not a UTF-8 text file (byte 0xe9 at offset 25); save it as UTF-8")
    run = oceanfed("run", "--config", str(path))
    assert run.returncode == 1
    assert run.stderr == f"oceanfed: error: {expected}\n"
    check = oceanfed("check", "--config", str(path))
    assert check.returncode == 1 and "Traceback" not in check.stderr
    assert check.stdout.splitlines()[0] == f"FAILED config: {expected}"


def test_output_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """``oceanfed check --json | head``: the reader is gone before the first line."""
    config = create_devnet(tmp_path / "d", 3, 2).fed_toml("m0")
    err = tmp_path / "stderr"
    with open(err, "wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "oceanfed.cli.main", "check", "--json", "--config", str(config)],
            stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL,  # read end closed at once
        )
    assert proc.stdout is not None
    proc.stdout.close()  # long before the command has anything to print
    assert proc.wait(timeout=60) == 141
    assert err.read_text() == ""
