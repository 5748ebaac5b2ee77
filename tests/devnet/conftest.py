"""Devnet fixtures: a devnet directory served by a real ``oceanfed devnet serve`` process."""

from __future__ import annotations

import json
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from oceanfed.devnet.setup import DevnetLayout, create_devnet
from oceanfed.keyfile import read_private_key
from oceanfed.rpc import NodeClient
from testsupport import vectors


class DevnetProcess:
    """A devnet directory and the server process serving it."""

    def __init__(self, layout: DevnetLayout):
        self.layout = layout
        self.proc: subprocess.Popen[str] | None = None
        self.ready_line = ""

    def start(self, timeout: float = 20.0) -> None:
        self.proc = serve_process(self.layout.dir)
        self.ready_line = wait_ready(self.proc, timeout)

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.proc = None
        return code

    def client(self, name: str = "m0", **kw) -> NodeClient:
        return NodeClient(self.layout.url(name), name, self.layout.password(name), **kw)

    def clients(self) -> list[NodeClient]:
        return [self.client(n) for n in self.layout.members]

    def key(self, name: str) -> bytes:
        return read_private_key(self.layout.block_key_file(name))


def serve_process(directory: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "oceanfed.cli.main", "devnet", "serve", "--dir", str(directory)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_ready(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            line = proc.stdout.readline()
            if line.startswith("devnet ready:"):
                return line
            if not line and proc.poll() is not None:
                break
    err = proc.stderr.read() if proc.stderr and proc.poll() is not None else ""
    proc.kill()
    proc.wait()
    raise AssertionError(f"devnet did not become ready: {err}")


def served(layout: DevnetLayout) -> Iterator[DevnetProcess]:
    """Serve ``layout`` for the duration of a fixture; stopped afterwards if still running."""
    dn = DevnetProcess(layout)
    dn.start()
    yield dn
    if dn.proc is not None:
        dn.stop()


@pytest.fixture
def devnet(tmp_path: Path) -> Iterator[DevnetProcess]:
    """A fresh 3-of-5 devnet, served."""
    yield from served(create_devnet(tmp_path / "dn", members=5, threshold=3))


@pytest.fixture(scope="session")
def vector_keys() -> list[bytes]:
    return vectors.block_keys()


@pytest.fixture(scope="session")
def vector_chain() -> list[str]:
    """Hex of the 20 blocks of the real chain, by height."""
    return vectors.chain_hexes()


@pytest.fixture
def vector_devnet(tmp_path: Path, vector_keys, vector_chain) -> Iterator[DevnetProcess]:
    """A 2-of-3 devnet on the vectors' genesis block, with keys.json's keys."""
    yield from served(create_devnet(
        tmp_path / "vec", threshold=2, genesis_hex=vector_chain[0], block_keys=vector_keys
    ))


@pytest.fixture(scope="session")
def facts() -> dict:
    return json.loads((vectors.VECTORS / "facts.json").read_text())


@pytest.fixture(scope="session")
def transcripts() -> dict[str, list[dict]]:
    return vectors.transcripts()


@pytest.fixture
def devnet_2of3(tmp_path: Path) -> Iterator[DevnetProcess]:
    """A fresh 2-of-3 devnet, served; m0's wallet holds the initial free coins."""
    yield from served(create_devnet(tmp_path / "dn3", members=3, threshold=2))
