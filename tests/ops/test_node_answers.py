"""A node that answers with something that is not a header: one clear line, no traceback.

The node here is a small JSON-RPC server over real HTTP whose ``getblockheader`` answer the
test chooses (a real devnet always answers correctly).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from oceanfed.config import load_config
from oceanfed.errors import ConfigError, OceanfedError
from oceanfed.member import check_chain
from oceanfed.migrate.chain import read_chain
from oceanfed.nodechain import genesis_challenge
from oceanfed.ocean.header import BlockHeader
from oceanfed.rpc import NodeClient
from oceanfed_devnet.setup import create_devnet
from testsupport.jsonrpc import ScriptedHandler, scripted_node

ANSWERS: dict[str, Any] = {"getblockhash": "00" * 32, "getblockcount": 0,
                           "getbestblockhash": "00" * 32, "getblockchaininfo": {"chain": "ocean_test"}}


class _Handler(ScriptedHandler):
    header_answer: Any = None

    def reply(self, request: dict[str, Any]) -> tuple[int, bytes]:
        method = request["method"]
        result = type(self).header_answer if method == "getblockheader" else ANSWERS[method]
        return 200, json.dumps({"result": result, "error": None, "id": request["id"]}).encode()


@pytest.fixture
def node() -> Iterator[NodeClient]:
    with scripted_node(_Handler) as client:
        yield client


def _header(challenge: bytes) -> str:
    return BlockHeader(version=1, prev_hash=bytes(32), merkle_root=bytes(32), contract_hash=bytes(32),
                       attestation_hash=bytes(32), mapping_hash=bytes(32), time=0, height=0,
                       challenge=challenge).serialize().hex()


@pytest.mark.parametrize("answer", [12345, "zz", "00" * 40])
def test_a_broken_genesis_header_is_one_line(node: NodeClient, answer: Any, tmp_path: Path) -> None:
    _Handler.header_answer = answer
    with pytest.raises(OceanfedError) as raised:
        read_chain(node, "--nodeaddr")
    assert str(raised.value).startswith("--nodeaddr: cannot read the genesis header (")
    assert "\n" not in str(raised.value)
    cfg = load_config(create_devnet(tmp_path / "d", 3, 2).fed_toml("m0"))
    with pytest.raises(ConfigError) as refused:
        check_chain(cfg, node)
    assert str(refused.value).startswith(f"node at {cfg.node.url}: cannot read the genesis header (")


def test_genesis_challenge_and_a_non_multisig_chain(node: NodeClient) -> None:
    _Handler.header_answer = _header(b"\x51")  # OP_TRUE: a chain no federation signs
    assert genesis_challenge(node) == b"\x51"
    with pytest.raises(OceanfedError, match="not an M-of-N CHECKMULTISIG signblockscript"):
        read_chain(node, "--nodeaddr")
