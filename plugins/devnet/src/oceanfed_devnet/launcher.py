"""Run a whole local federation as real processes: one devnet node and N members.

With ``node="oceand"`` the chain runs on real ``oceand`` nodes instead, one per member
and client (:mod:`oceanfed_devnet.oceand`), children of this process.

Used by ``oceanfed demo``, ``oceanfed bench`` and the integration tests. Every process is
started in its own session, logs to ``DIR/logs/<name>.log`` and is killed on
:meth:`LocalFederation.close` (also at interpreter exit), so nothing is left behind.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from oceanfed.atomicfile import write_atomic
from oceanfed.errors import OceanfedError, RPCError
from oceanfed.ocean.block import Block
from oceanfed.rpc import NodeClient
from oceanfed.tomlwrite import toml_value
from oceanfed_devnet.setup import DevnetLayout, create_devnet

#: [rounds] settings that suit a single machine (loopback latencies of a millisecond)
LOCAL_ROUNDS = {
    "propose_timeout": 1.0,
    "prevote_timeout": 0.5,
    "precommit_timeout": 0.5,
    "timeout_step": 0.25,
    "gossip_interval": 0.25,
    "tip_poll_interval": 0.25,
}


def _write_lines(fed_toml: Path, lines: list[str]) -> None:
    write_atomic(fed_toml, ("\n".join(lines) + "\n").encode("utf-8"), mode=0o644, replace=True)


def set_table(fed_toml: Path, table: str, values: Mapping[str, Any]) -> None:
    """Replace the keys of ``[table]`` named in ``values`` in a generated fed.toml (keeps
    everything else); the table is appended if absent."""
    lines = fed_toml.read_text().splitlines()
    body = [f"{k} = {toml_value(v)}" for k, v in values.items()]
    out: list[str] = []
    inside = False
    done = False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("["):
            if inside and not done:
                out.extend(body)
                out.append("")
                done = True
            inside = stripped == f"[{table}]"
            out.append(line)
            continue
        if inside and "=" in stripped and stripped.split("=", 1)[0].strip() in values:
            continue
        out.append(line)
    if inside and not done:
        out.extend(body)
        done = True
    if not done:
        out.append(f"[{table}]")
        out.extend(body)
    _write_lines(fed_toml, out)


def replace_table(fed_toml: Path, table: str, values: Mapping[str, Any]) -> None:
    """Replace the whole ``[table]`` of a generated fed.toml with ``values`` (lists and
    inline tables allowed); every other table is kept. The table is appended if absent."""
    out: list[str] = []
    inside = False
    written = False
    body = [f"{k} = {toml_value(v)}" for k, v in values.items()]
    for line in fed_toml.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            inside = stripped == f"[{table}]"
            if inside:
                out.extend([line, *body, ""])
                written = True
                continue
        if not inside:
            out.append(line)
    if not written:
        out.extend([f"[{table}]", *body])
    _write_lines(fed_toml, out)


def _oceanfed_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "oceanfed.cli.main", *args]


class LocalFederation:
    """A devnet and its members as child processes in ``dir``."""

    def __init__(
        self,
        dir: str | os.PathLike[str],  # noqa: A002
        members: int = 5,
        threshold: int = 3,
        *,
        messenger: str = "zmq",
        block_time: float = 1.0,
        rounds: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        log_level: str = "info",
        node: str = "devnet",
        **devnet_options: Any,
    ):
        self.dir = Path(dir)
        self.net: Any = None
        if node == "oceand":
            from oceanfed_devnet.oceand import OceandNet, create_oceand_devnet

            self.layout: DevnetLayout = create_oceand_devnet(
                self.dir, members, threshold, block_time=block_time, messenger=messenger,
                **devnet_options,
            )
            self.net = OceandNet(self.layout)
        elif node == "devnet":
            self.layout = create_devnet(
                self.dir, members, threshold, block_time=block_time, messenger=messenger,
                **devnet_options,
            )
        else:
            raise OceanfedError(f"node must be 'devnet' or 'oceand', got {node!r}")
        for name in self.layout.members:
            set_table(self.layout.fed_toml(name), "rounds", {**LOCAL_ROUNDS, **(rounds or {})})
            set_table(self.layout.fed_toml(name), "log", {"level": log_level})
        self.env = {**os.environ, **(env or {})}
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.member_env: dict[str, dict[str, str]] = {}
        self.state_dirs: dict[str, Path] = {
            name: self.layout.member_dir(name) / "state" for name in self.layout.members
        }
        (self.dir / "logs").mkdir(exist_ok=True)
        atexit.register(self.close)

    # ------------------------------------------------------------------ processes

    @property
    def members(self) -> list[str]:
        return self.layout.members

    def _spawn(self, name: str, cmd: list[str], env: Mapping[str, str] | None = None) -> None:
        log = open(self.dir / "logs" / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        self.procs[name] = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**self.env, **(env or {})}, start_new_session=True,
        )
        log.close()

    def start_devnet(self, timeout: float = 20.0) -> None:
        if self.net is not None:
            self.net.start()
            return
        self._spawn("devnet", _oceanfed_cmd("devnet", "serve", "--dir", str(self.dir)))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.rpc().call("getblockcount")
                return
            except RPCError:
                if self.procs["devnet"].poll() is not None:
                    raise OceanfedError(f"devnet exited: {self.log_tail('devnet')}") from None
                time.sleep(0.05)
        raise OceanfedError(f"devnet did not start within {timeout:.0f}s: {self.log_tail('devnet')}")

    def start_member(self, name: str, env: Mapping[str, str] | None = None) -> None:
        if env is not None:
            self.member_env[name] = dict(env)
        self._spawn(
            name,
            _oceanfed_cmd("run", "--config", str(self.layout.fed_toml(name))),
            self.member_env.get(name),
        )

    def start(self, members: list[str] | None = None) -> None:
        """Start the devnet (if not running) and the given members (default: all)."""
        if not self.running("devnet"):
            self.start_devnet()
        for name in members if members is not None else self.members:
            self.start_member(name)

    def running(self, name: str) -> bool:
        if name == "devnet" and self.net is not None:
            return all(self.net.running(n) for n in self.layout.endpoints)
        p = self.procs.get(name)
        return p is not None and p.poll() is None

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        p = self.procs.get(name)
        if p is not None and p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def stop(self, name: str) -> int | None:
        """Stop a process with SIGTERM and return its exit status."""
        self.kill(name, signal.SIGTERM)
        p = self.procs.get(name)
        return None if p is None else p.returncode

    def pause(self, name: str) -> None:
        self.procs[name].send_signal(signal.SIGSTOP)

    def resume(self, name: str) -> None:
        self.procs[name].send_signal(signal.SIGCONT)

    def close(self) -> None:
        for name in list(self.procs):
            p = self.procs[name]
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGCONT)
                    p.terminate()
                    p.wait(timeout=5)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    p.kill()
                    p.wait()
        self.procs.clear()
        if self.net is not None:
            self.net.stop()

    # ------------------------------------------------------------------ oceand nodes

    def kill_node(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Stop the oceand node of member or client ``name`` with ``sig``."""
        if self.net is None:
            raise OceanfedError("kill_node: this federation runs on the embedded devnet")
        self.net.kill_node(name, sig)

    def start_node(self, name: str) -> None:
        """(Re)start the oceand node of ``name`` and connect it to the others."""
        if self.net is None:
            raise OceanfedError("start_node: this federation runs on the embedded devnet")
        self.net.start_node(name)

    def __enter__(self) -> LocalFederation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ observing

    def log_tail(self, name: str, lines: int = 5) -> str:
        path = self.dir / "logs" / f"{name}.log"
        try:
            return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def rpc(self, name: str | None = None) -> NodeClient:
        name = name or self.members[0]
        return NodeClient(self.layout.url(name), name, self.layout.password(name), timeout=5, retries=0)

    def height(self) -> int:
        return int(self.rpc().call("getblockcount"))

    def wait_height(self, height: int, timeout: float) -> int:
        """Wait until the chain reaches ``height``; return the height reached."""
        deadline = time.monotonic() + timeout
        h = self.height()
        while h < height and time.monotonic() < deadline:
            time.sleep(0.05)
            h = self.height()
        return h

    def set_state_dir(self, name: str, path: str | os.PathLike[str]) -> None:
        """Keep a member's state somewhere else (e.g. tmpfs for a benchmark)."""
        set_table(self.layout.fed_toml(name), "member", {"state_dir": str(path)})
        self.state_dirs[name] = Path(path)

    def status(self, name: str) -> dict[str, Any] | None:
        """The member's last written status.json, if any."""
        path = self.state_dirs[name] / "status.json"
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None

    def signed(self, name: str) -> dict[int, str]:
        """The member's ``signed`` audit table (height to block hash), read-only: the
        member may be running and holding its state directory."""
        path = self.state_dirs[name] / "state.sqlite3"
        if not path.exists():
            return {}
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'signed'").fetchone():
                return {}  # a member starting: its tables are not there yet
            return {int(h): str(b) for h, b in db.execute("SELECT height, block_hash FROM signed")}
        finally:
            db.close()

    def blocks(self, name: str | None = None) -> list[Block]:
        """Every block of the chain as the member's node serves it, genesis first."""
        node = self.rpc(name)
        tip = int(node.call("getblockcount"))
        return [
            Block.from_hex(node.call("getblock", node.call("getblockhash", h), False))
            for h in range(tip + 1)
        ]

    # ------------------------------------------------------------------ reconfiguring

    def set_signer(self, name: str, table: Mapping[str, Any]) -> None:
        """Replace the member's whole ``[signer]`` table (takes effect at its next start)."""
        replace_table(self.layout.fed_toml(name), "signer", table)

    def set_messenger(self, name: str, table: Mapping[str, Any]) -> None:
        """Replace the member's whole ``[messenger]`` table (takes effect at its next start)."""
        replace_table(self.layout.fed_toml(name), "messenger", table)
