"""In-process devnet chains for transaction, wallet and asset tests.

:class:`Net` holds a devnet's chain and one :class:`Endpoint` per member and client, and
mines blocks the way the federation does (propose, sign with M block keys, submit).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from oceanfed.crypto import sign_digest
from oceanfed.keyfile import read_private_key
from oceanfed.ocean.block import Block
from oceanfed.ocean.proof import build_solution
from oceanfed_devnet.chain import Chain
from oceanfed_devnet.rpc import Endpoint, dispatch
from oceanfed_devnet.setup import DevnetLayout, create_devnet, open_chain
from oceanfed_devnet.wallet import Wallet
from testsupport import vectors


class Net:
    def __init__(self, layout: DevnetLayout):
        self.layout = layout
        self.chain: Chain = open_chain(layout)
        self.eps: dict[str, Endpoint] = {}
        for name in layout.endpoints:
            key = read_private_key(layout.block_key_file(name)) if name in layout.members else None
            self.eps[name] = Endpoint(name, self.chain, key, Wallet(layout.wallet_file(name)))

    def call(self, name: str, method: str, *params: Any) -> Any:
        return dispatch(self.eps[name], method, list(params))

    def mine(self) -> Block:
        """Propose on the tip, sign with the first M members' keys, submit."""
        block = Block.from_hex(self.call("m0", "getnewblockhex"))
        keys = [self.eps[m].block_key for m in self.layout.members[: self.layout.threshold]]
        digest = block.header.digest()
        signed = block.with_solution(build_solution(sign_digest(k, digest) for k in keys if k))
        assert self.call("m0", "submitblock", signed.block_hex()) is None
        return signed

    def close(self) -> None:
        self.chain.store.close()


@pytest.fixture(scope="session")
def vector_keys() -> list[bytes]:
    return vectors.block_keys()


@pytest.fixture(scope="session")
def vector_chain() -> list[str]:
    return vectors.chain_hexes()


@pytest.fixture(scope="session")
def transcripts() -> dict[str, list[dict]]:
    return vectors.transcripts()


@pytest.fixture
def vector_net(tmp_path: Path, vector_keys, vector_chain) -> Iterator[Net]:
    """The vectors' genesis, 2-of-3 with keys.json's keys; nothing replayed yet."""
    layout = create_devnet(
        tmp_path / "vec", threshold=2, genesis_hex=vector_chain[0], block_keys=vector_keys
    )
    net = Net(layout)
    yield net
    net.close()


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Net]:
    """A fresh 2-of-3 devnet with two clients holding the initial free coins."""
    net = Net(create_devnet(tmp_path / "dn", members=3, threshold=2, clients=2))
    yield net
    net.close()


@pytest.fixture
def op_true_net(tmp_path: Path) -> Iterator[Net]:
    """A 2-of-3 devnet with one client whose coinbase pays the fees to OP_TRUE (as the
    node's does), so that coinbase outputs can be spent."""
    net = Net(create_devnet(tmp_path / "dn", members=3, threshold=2, clients=1,
                            coinbase_destination=b"\x51"))
    yield net
    net.close()


@pytest.fixture
def make_net() -> Iterator[Callable[[DevnetLayout], Net]]:
    """Open a :class:`Net` on a devnet created by the test (closed after it)."""
    nets: list[Net] = []

    def make(layout: DevnetLayout) -> Net:
        nets.append(Net(layout))
        return nets[-1]

    yield make
    for net in nets:
        net.close()
