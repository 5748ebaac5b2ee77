"""Devnet fixtures: a devnet directory served by a real ``oceanfed devnet serve`` process."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from oceanfed.keyfile import read_private_key
from oceanfed.rpc import NodeClient
from oceanfed_devnet.setup import DevnetLayout, create_devnet
from testsupport import vectors
from testsupport.processes import Spawned, oceanfed_args


class DevnetProcess:
    """A devnet directory and the server process serving it (output in DIR-logs)."""

    def __init__(self, layout: DevnetLayout):
        self.layout = layout
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready_line = ""
        self._starts = 0

    def start(self, timeout: float = 20.0) -> None:
        self._starts += 1
        serve = serve_process(self.layout.dir, f"devnet-{self._starts}")
        self.proc = serve.proc
        try:
            self.ready_line = serve.wait_for_line(
                lambda line: line.startswith("devnet ready:"), timeout, "devnet ready"
            ) + "\n"
        except AssertionError as exc:
            serve.stop(signal.SIGKILL)
            self.proc = None
            raise AssertionError(f"devnet did not become ready: {exc}") from None

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


def serve_process(directory: Path, name: str = "devnet") -> Spawned:
    """``oceanfed devnet serve --dir DIRECTORY``, its output beside it, in ``DIRECTORY-logs``."""
    directory = Path(directory)
    return Spawned(oceanfed_args("devnet", "serve", "--dir", str(directory)),
                   directory.parent / f"{directory.name}-logs", name)


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
