"""`oceanfed run` refuses bad input with one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from oceanfed_devnet.launcher import LocalFederation, set_table


def run_member(config: Path, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "oceanfed.cli.main", "run", "--config", str(config)],
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
    )


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("oceanfed: error:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    f = LocalFederation(tmp_path_factory.mktemp("run") / "fed", 3, 2)
    f.start_devnet()
    try:
        yield f
    finally:
        f.close()


@pytest.fixture
def config(fed: LocalFederation, tmp_path: Path) -> Path:
    """A copy of member m0's working directory that a test may break."""
    src = fed.layout.member_dir("m0")
    dst = tmp_path / "m0"
    dst.mkdir()
    for name in ("fed.toml", "block.key", "transport.key", "rpc.password", "curve.key"):
        (dst / name).write_bytes((src / name).read_bytes())
        os.chmod(dst / name, 0o600)
    return dst / "fed.toml"


def edit(config: Path, old: str, new: str) -> None:
    text = config.read_text()
    assert re.search(old, text, flags=re.M), old
    config.write_text(re.sub(old, new, text, count=1, flags=re.M))


def test_missing_key(config: Path) -> None:
    edit(config, r"^threshold = .*$", "")
    assert "federation.threshold: missing required key" in one_line_error(run_member(config))


def test_unknown_key(config: Path) -> None:
    edit(config, r"^\[node\]$", "[node]\ncolour = 'blue'")
    assert "node.colour: unknown key" in one_line_error(run_member(config))


def test_wrong_type(config: Path) -> None:
    edit(config, r"^threshold = .*$", 'threshold = "two"')
    assert "federation.threshold" in one_line_error(run_member(config))


def test_threshold_above_members(config: Path) -> None:
    edit(config, r"^threshold = .*$", "threshold = 4")
    edit(config, r"^signblockscript = .*$", "")
    assert "threshold 4 is above the number of members (3)" in one_line_error(run_member(config))


def test_malformed_pubkey(config: Path) -> None:
    edit(config, r'^pubkey = "(..)', r'pubkey = "zz')
    line = one_line_error(run_member(config))
    assert "federation.members.0.pubkey" in line and "secp256k1" in line


def test_malformed_script(config: Path) -> None:
    edit(config, r'^signblockscript = ".*"$', 'signblockscript = "52ae"')
    assert "signblockscript" in one_line_error(run_member(config))


def test_key_file_readable_by_others(config: Path) -> None:
    os.chmod(config.parent / "block.key", 0o644)
    line = one_line_error(run_member(config))
    assert "block.key" in line and "0644" in line


def test_missing_key_file(config: Path) -> None:
    (config.parent / "transport.key").unlink()
    assert "transport.key" in one_line_error(run_member(config))


def test_unreachable_node(config: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    set_table(config, "node", {"url": f"http://127.0.0.1:{port}/"})
    line = one_line_error(run_member(config))
    assert f"127.0.0.1:{port}" in line


def test_wrong_rpc_credentials(config: Path) -> None:
    (config.parent / "rpc.password").write_text("not-the-password\n")
    line = one_line_error(run_member(config))
    assert "wrong RPC credentials" in line and "not-the-password" not in line


def test_unknown_plugin(config: Path) -> None:
    set_table(config, "signer", {"driver": "quantum"})
    line = one_line_error(run_member(config))
    assert "signer.driver: unknown signer 'quantum'" in line and "soft" in line


def test_port_taken(config: Path) -> None:
    text = config.read_text()
    port = int(re.search(r'^bind = "tcp://127.0.0.1:(\d+)"', text, flags=re.M).group(1))  # type: ignore[union-attr]
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen()
        line = one_line_error(run_member(config))
    assert f"tcp://127.0.0.1:{port} is already in use" in line


def test_minority_threshold_refused(tmp_path: Path) -> None:
    f = LocalFederation(tmp_path / "fed", 4, 2)
    line = one_line_error(run_member(f.layout.fed_toml("m0")))
    assert "allow_split_brain" in line
