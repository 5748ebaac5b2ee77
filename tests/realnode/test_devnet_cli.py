"""``oceanfed devnet --node oceand``: create, serve, stop; no oceand is left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from oceanfed.errors import RPCError
from oceanfed.rpc import NodeClient
from oceanfed_devnet.setup import load_layout
from testsupport.cli import oceanfed
from testsupport.realnode import wait_for

pytestmark = [pytest.mark.realnode, pytest.mark.slow]


def _children(pid: int) -> list[int]:
    """Pids of the oceand processes whose parent is ``pid``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        if ppid == pid and comm == "oceand":
            found.append(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _serve(directory: Path, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "oceanfed.cli.main", "devnet", "serve", "--dir", str(directory)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )


def test_create_serve_and_stop(tmp_path: Path) -> None:
    d = tmp_path / "dn"
    done = oceanfed("devnet", "--members", "3", "--threshold", "2", "--clients", "1",
                   "--dir", str(d), "--node", "oceand", timeout=180)
    assert done.returncode == 0, done.stderr
    assert "devnet created" in done.stdout and "2-of-3" in done.stdout
    layout = load_layout(d)
    assert layout.node == "oceand" and len(layout.p2p_ports) == 4
    for name in layout.members:
        fed = tomllib.loads(layout.fed_toml(name).read_text())
        assert fed["node"]["url"] == layout.url(name)
        assert fed["federation"]["threshold"] == 2
        assert (layout.member_dir(name) / "node" / "ocean.conf").stat().st_mode & 0o077 == 0

    log = tmp_path / "serve.log"
    serve = _serve(d, log)
    try:
        wait_for(lambda: "devnet ready" in log.read_text() or serve.poll() is not None, 120,
                 "devnet ready")
        assert serve.poll() is None, log.read_text()
        nodes = _children(serve.pid)
        assert len(nodes) == 4
        for name in layout.endpoints:
            client = NodeClient(layout.url(name), name, layout.password(name), retries=0)
            assert client.call("getblockhash", 0) == layout.genesis_hash
        # the client's wallet sees the initial free coins (imported with a rescan)
        c0 = NodeClient(layout.url("c0"), "c0", layout.password("c0"), retries=0)
        assert c0.call("getbalance")["CBT"] == 21_000_000
        # a node that dies is restarted by serve, and answers again
        [m1_pid] = [p for p in nodes
                    if f"/m1/{'node'}".encode() in Path(f"/proc/{p}/cmdline").read_bytes()]
        os.kill(m1_pid, signal.SIGKILL)
        wait_for(lambda: "oceand of m1 exited" in log.read_text(), 30, "serve to notice")
        m1 = NodeClient(layout.url("m1"), "m1", layout.password("m1"), retries=0)

        def answers() -> bool:
            try:
                return bool(m1.call("getblockhash", 0) == layout.genesis_hash)
            except RPCError:
                return False

        wait_for(answers, 60, "m1's node back")
        nodes = _children(serve.pid)
        assert len(nodes) == 4
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=60) == 0
        wait_for(lambda: not any(_alive(p) for p in nodes), 30, "the nodes to exit")
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()

    # a serve killed outright takes its nodes with it (they get SIGTERM from the kernel)
    log = tmp_path / "serve2.log"
    serve = _serve(d, log)
    try:
        wait_for(lambda: "devnet ready" in log.read_text() or serve.poll() is not None, 120,
                 "devnet ready again")
        nodes = _children(serve.pid)
        assert len(nodes) == 4
        serve.kill()
        serve.wait()
        wait_for(lambda: not any(_alive(p) for p in nodes), 60, "the orphaned nodes to exit")
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()


def test_missing_binaries_give_one_line(tmp_path: Path) -> None:
    done = oceanfed("devnet", "--members", "3", "--dir", str(tmp_path / "x"), "--node", "oceand",
                    "--oceand-bindir", str(tmp_path / "nowhere"))
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "scripts/oceand.sh" in done.stderr and len(done.stderr.strip().splitlines()) == 1
