"""Demo inflation: an asset whose reissuance token the federation holds and reissues.

Before the members start, a client issues an asset with a reissuance token, and every
member gets an ``[inflation]`` table: the fixed-rate policy, a short period, the client's
address as the inflation address, and the members' block keys as the reissuance script
(signing through their block signers). Once the issuance is mined, the client moves the
token to the script's P2SH address; from the next due height on the federation reissues.
"""

from __future__ import annotations

from collections.abc import Callable

from oceanfed.errors import RPCError
from oceanfed.ocean.address import p2sh_of_redeem, script_to_address
from oceanfed.ocean.block import Block
from oceanfed.ocean.script import multisig_script
from oceanfed_devnet.demo.clients import send_asset, set_fee_rate
from oceanfed_devnet.launcher import LocalFederation, set_table

#: a demonstration rate (per year) large enough to show on 1-second blocks
DEMO_RATE = 1000.0
TOKEN_AMOUNT = 10000


def inflation_available() -> bool:
    try:
        import oceanfed_inflation  # noqa: F401
    except ImportError:
        return False
    return True


class DemoInflation:
    def __init__(self, fed: LocalFederation, issuer: str, event: Callable[[str], None], period: int):
        self.fed = fed
        self.issuer = issuer
        self.event = event
        self.period = period
        pubkeys = [bytes.fromhex(p) for p in fed.layout.pubkeys]
        self.script = multisig_script(fed.layout.threshold, pubkeys)
        address = script_to_address(p2sh_of_redeem(self.script))
        assert address is not None
        self.p2sh = address
        self.asset: str | None = None
        self.token: str | None = None
        self.token_moved = False

    def configure(self) -> None:
        """Issue the asset and write every member's [inflation] table (devnet running)."""
        rpc = self.fed.rpc(self.issuer)
        set_fee_rate(rpc)
        result = rpc.call("issueasset", 1_000_000, TOKEN_AMOUNT, False)
        self.asset, self.token = result["asset"], result["token"]
        address = rpc.call("getnewaddress")
        for name in self.fed.members:
            set_table(self.fed.layout.fed_toml(name), "inflation", {
                "policy": "fixed-rate", "rate": DEMO_RATE, "period": self.period,
                "address": address, "reissuance_script": self.script.hex(), "key_source": "signer",
            })
        self.event(f"{self.issuer} issued 1000000 of asset {self.asset[:12]}…; the federation "
                   f"will reissue it every {self.period} blocks at a demo rate of {DEMO_RATE:g}/year")

    def step(self) -> None:
        """Move the token to the federation's P2SH once the issuance is confirmed."""
        if self.token_moved or self.token is None:
            return
        try:
            send_asset(self.fed.rpc(self.issuer), self.p2sh, TOKEN_AMOUNT, self.token)
        except RPCError:
            return  # not confirmed yet: try again at the next block
        self.token_moved = True
        self.event(f"{self.issuer} moved the reissuance token to the federation's P2SH {self.p2sh[:14]}…")

    @staticmethod
    def reissuances(block: Block) -> int:
        """How many reissuance inputs a block's transactions hold (the coinbase has none).

        The block is read whole from one node: asking another node, or its transaction index,
        for each transaction could race that node's view of the tip.
        """
        return sum(1 for tx in block.txs[1:] for i in tx.vin
                   if i.issuance is not None and i.issuance.is_reissuance)
