"""``oceanfed devnet`` as a command: creating, serving, and its one-line errors."""

from __future__ import annotations

import signal
import socket
import stat
from pathlib import Path

from oceanfed.config import load_config
from oceanfed_devnet.setup import load_layout
from testsupport.cli import oceanfed
from testsupport.processes import Spawned, oceanfed_args


def test_create_writes_valid_member_configs(tmp_path: Path) -> None:
    d = tmp_path / "dn"
    out = oceanfed(
        "devnet", "--members", "4", "--threshold", "3", "--dir", str(d), "--block-time", "0.5"
    )
    assert out.returncode == 0, out.stderr
    assert "3-of-4" in out.stdout
    layout = load_layout(d)
    assert layout.members == ["m0", "m1", "m2", "m3"] and layout.block_time == 0.5
    for i, name in enumerate(layout.members):
        cfg = load_config(layout.fed_toml(name))
        assert cfg.member.name == name and cfg.member_index == i
        assert cfg.federation.threshold == 3 and cfg.federation.block_time == 0.5
        assert [m.pubkey for m in cfg.federation.members] == layout.pubkeys
        assert cfg.federation.signblockscript is not None
        assert cfg.messenger.driver == "zmq" and cfg.signer.driver == "soft"
        peers = cfg.messenger.options()["peers"]
        assert sorted(peers) == sorted(set(layout.members) - {name})
        assert cfg.node.url == layout.url(name) and cfg.node.user == name
        for f in ("block.key", "transport.key", "rpc.password"):
            assert stat.S_IMODE((layout.member_dir(name) / f).stat().st_mode) == 0o600
        key = (layout.member_dir(name) / "block.key").read_text()
        assert len(key) == 65 and key.endswith("\n")
    again = oceanfed("devnet", "--members", "4", "--threshold", "3", "--dir", str(d))
    assert again.returncode == 1 and "already holds a devnet" in again.stderr


def test_bad_arguments_are_one_line(tmp_path: Path) -> None:
    for args, needle in (
        (["--members", "3", "--threshold", "4"], "threshold 4"),
        (["--members", "0", "--threshold", "1"], "members must be between"),
        (["--members", "17", "--threshold", "3"], "members must be between"),
        (["--members", "3", "--threshold", "2", "--base-port", "70000"], "base port 70000"),
    ):
        out = oceanfed("devnet", *args, "--dir", str(tmp_path / "x"))
        assert out.returncode == 1 and needle in out.stderr, (args, out.stderr)
        assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    out = oceanfed("devnet", "serve", "--dir", str(tmp_path / "missing"))
    assert out.returncode == 1 and "devnet.toml" in out.stderr and out.stderr.count("\n") == 1


def test_port_taken_is_one_line(tmp_path: Path) -> None:
    d = tmp_path / "dn"
    assert oceanfed("devnet", "--members", "2", "--threshold", "2", "--dir", str(d)).returncode == 0
    port = load_layout(d).rpc_ports[1]
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", port))
    blocker.listen(1)
    try:
        out = oceanfed("devnet", "--dir", str(d))
    finally:
        blocker.close()
    assert out.returncode == 1
    assert out.stderr == f"oceanfed: error: devnet: port {port} (member m1) is already in use\n"


def test_serve_stops_on_sigint(tmp_path: Path) -> None:
    d = tmp_path / "dn"
    assert oceanfed("devnet", "--members", "1", "--threshold", "1", "--dir", str(d)).returncode == 0
    serve = Spawned(oceanfed_args("devnet", "serve", "--dir", str(d)), tmp_path, "serve")
    try:
        line = serve.wait_for_line(lambda x: x.startswith("devnet ready:"), timeout=30)
        assert line.startswith("devnet ready: chain ocean_test height 0")
        serve.proc.send_signal(signal.SIGINT)
        assert serve.proc.wait(timeout=10) == 0
    finally:
        serve.stop(signal.SIGKILL)


def test_help_documents_both_forms() -> None:
    out = oceanfed("devnet", "--help")
    assert out.returncode == 0
    assert "oceanfed devnet serve --dir DIR" in out.stdout and "--members" in out.stdout
