"""Fixtures of the inflation tests: a 2-of-3 devnet federation whose asset's reissuance
token sits at the P2SH address of a 2-of-3 reissuance script.

Reissuance keys: m0 signs with its block signer (``key_source = "signer"``, so its block
key is in the reissuance script), m1 and m2 with key files.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from oceanfed.config import load_config
from oceanfed.crypto import pubkey_of
from oceanfed.interfaces import Signer
from oceanfed.keyfile import generate_private_key, read_private_key, write_private_key
from oceanfed.member import plugin_context
from oceanfed.ocean.block import Block
from oceanfed.ocean.script import multisig_script
from oceanfed.plugins import load_signer
from oceanfed.rpc import NodeClient
from oceanfed_devnet.launcher import LocalFederation, replace_table
from oceanfed_inflation.engine import Inflation
from testsupport.federation import fast_rounds

FAST_ROUNDS = fast_rounds(0.2)
#: a huge yearly rate, so that a 2.5 s period still reissues whole coins
RATE = 1_000_000_000.0
PERIOD = 5
BLOCK_TIME = 0.5
ISSUED = 1_000_000
YEAR = 31_536_000
TESTDIST = Path(__file__).parent / "testdist"


def formula(spendable: float) -> float:
    """The upstream formula in plain floats, independent of the plugin's code."""
    return round(spendable * ((1 + RATE) ** (BLOCK_TIME * PERIOD / YEAR) - 1), 8)


@dataclass
class InflationNet:
    """A federation (devnet running, members not started) prepared for inflation."""

    fed: LocalFederation
    asset: str
    token: str
    entropy: str
    p2sh: str
    address: str
    script: bytes
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)

    def node(self, name: str = "m0") -> NodeClient:
        layout = self.fed.layout
        return NodeClient(layout.url(name), name, layout.password(name), timeout=10, retries=0)

    def mine(self) -> None:
        """One block, signed through the members' devnet endpoints (no member running)."""
        m0, m1 = self.node("m0"), self.node("m1")
        proposal = m0.call("getnewblockhex")
        sigs = [c.call("signblock", proposal) for c in (m0, m1)]
        combined = m0.call("combineblocksigs", proposal, sigs)
        assert combined["complete"]
        assert m0.call("submitblock", combined["hex"]) is None

    def spendable(self, name: str = "m0") -> Decimal:
        info = next(i for i in self.node(name).call("getutxoassetinfo") if i["asset"] == self.asset)
        return Decimal(repr(info["amountspendable"]))

    def reissuances(self) -> list[tuple[int, int]]:
        """``(height, satoshi)`` of every reissuance of the asset mined so far."""
        out: list[tuple[int, int]] = []
        for height, block in enumerate(self.fed.blocks()):
            out.extend((height, tx.vout[0].amount or 0) for tx in block.txs
                       if tx.vin[0].issuance is not None and tx.vin[0].issuance.is_reissuance)
        return out

    def wait_reissuances(self, count: int, timeout: float) -> list[tuple[int, int]]:
        deadline = time.monotonic() + timeout
        found = self.reissuances()
        while len(found) < count and time.monotonic() < deadline:
            time.sleep(0.25)
            found = self.reissuances()
        return found

    def engine(self, name: str) -> tuple[Inflation, Signer]:
        """The member's inflation engine, built in this process exactly as ``run`` does."""
        cfg = load_config(self.fed.layout.fed_toml(name))
        context = plugin_context(cfg)
        signer = load_signer(cfg.signer, context)
        return Inflation.start(cfg, context, signer), signer


def prepare(root: Path, *, policies: dict[str, str] | None = None) -> InflationNet:
    """Create the federation, issue the asset from client c0 and move its token to the
    reissuance P2SH; write each member's ``[inflation]`` table."""
    fed = LocalFederation(root, 3, 2, block_time=BLOCK_TIME, rounds=FAST_ROUNDS, clients=1)
    fed.start_devnet()
    layout = fed.layout
    block0 = read_private_key(layout.block_key_file("m0"))
    file_keys = {n: generate_private_key() for n in ("m1", "m2")}
    script = multisig_script(2, [pubkey_of(block0), *(pubkey_of(k) for k in file_keys.values())])
    c0 = NodeClient(layout.url("c0"), "c0", layout.password("c0"), timeout=10, retries=0)
    p2sh = c0.call("decodescript", script.hex())["p2sh"]
    issued = c0.call("issueasset", ISSUED, 10000)
    c0.call("sendtoaddress", p2sh, 10000, "", "", False, issued["token"])
    address = c0.call("getnewaddress")
    net = InflationNet(fed, issued["asset"], issued["token"], issued["entropy"], p2sh, address, script)
    net.mine()
    for name in layout.members:
        table: dict[str, Any] = {
            "policy": (policies or {}).get(name, "fixed-rate"),
            "rate": RATE,
            "period": PERIOD,
            "address": address,
            "reissuance_script": script.hex(),
        }
        if name in file_keys:
            write_private_key(layout.member_dir(name) / "reissuance.key", file_keys[name])
            table["key_file"] = "reissuance.key"
        else:
            table["key_source"] = "signer"
        net.tables[name] = table
        replace_table(layout.fed_toml(name), "inflation", table)
    return net


@pytest.fixture
def net(tmp_path: Path) -> Iterator[InflationNet]:
    n = prepare(tmp_path / "fed")
    try:
        yield n
    finally:
        n.fed.close()


def chain_blocks(net: InflationNet) -> list[Block]:
    return net.fed.blocks()
