"""Demo clients: wallets on the devnet that issue assets and send transfers to each other.

The same calls work on the embedded devnet and on real oceand nodes, whose wallet has two
fee rules of its own: ``issueasset`` needs a fee rate set (``settxfee``, which the devnet
does not know), and ``sendtoaddress`` of a non-policy asset is refused ("requires a
transaction fee") unless the fee comes out of the amount (``subtractfeefromamount``).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from oceanfed.errors import RPCError
from oceanfed_devnet.launcher import LocalFederation

#: the fee rate (per kB) a real node's wallet is given before it issues assets
FEE_RATE = 0.001
RPC_METHOD_NOT_FOUND = -32601
RPC_WALLET_ERROR = -4


def set_fee_rate(client: Any) -> None:
    """``settxfee`` on a real node's wallet; nothing on the devnet, which has no such call."""
    try:
        client.call("settxfee", FEE_RATE)
    except RPCError as exc:
        if exc.code != RPC_METHOD_NOT_FOUND:
            raise


def send_asset(client: Any, address: str, amount: float, asset: str) -> str:
    """``sendtoaddress`` of ``asset``; when the wallet asks for a fee in that asset, the fee
    is taken from the amount (the real node's rule for non-policy assets)."""
    try:
        return str(client.call("sendtoaddress", address, amount, "", "", False, asset))
    except RPCError as exc:
        if exc.code != RPC_WALLET_ERROR or "transaction fee" not in str(exc):
            raise
    return str(client.call("sendtoaddress", address, amount, "", "", True, asset))


class DemoClients:
    """Every ``every`` seconds one client issues an asset or pays another client."""

    def __init__(self, fed: LocalFederation, rng: random.Random, event: Callable[[str], None],
                 every: float = 2.0):
        self.fed = fed
        self.rng = rng
        self.event = event
        self.every = every
        self.names = list(fed.layout.clients)
        self.issued: dict[str, list[str]] = {n: [] for n in self.names}
        self.issuer: dict[str, str] = {}
        self.sent = 0
        self._next = 0.0
        self._fee_set: set[str] = set()

    def rpc(self, name: str) -> Any:
        return self.fed.rpc(name)

    def issue(self, name: str, amount: float = 1000, token: float = 1) -> dict[str, Any]:
        if name not in self._fee_set:
            set_fee_rate(self.rpc(name))
            self._fee_set.add(name)
        result = self.rpc(name).call("issueasset", amount, token, False)
        self.issued[name].append(result["asset"])
        self.issuer[result["asset"]] = name
        self.event(f"{name} issued {amount:g} of asset {result['asset'][:12]}… (txid {result['txid'][:12]}…)")
        return dict(result)

    def step(self, now: float) -> None:
        if len(self.names) < 2 or now < self._next:
            return
        self._next = now + self.every
        payer, payee = self.rng.sample(self.names, 2)
        try:
            if not self.issued[payer] and self.rng.random() < 0.5:
                self.issue(payer, amount=self.rng.choice([100, 500, 1000]))
                return
            address = self.rpc(payee).call("getnewaddress")
            if self.issued[payer] and self.rng.random() < 0.5:
                asset = self.rng.choice(self.issued[payer])
                amount: float = self.rng.choice([1, 5, 10])
                send_asset(self.rpc(payer), address, amount, asset)
                what = f"{amount} of {asset[:12]}…"
            else:
                amount = round(self.rng.uniform(0.1, 2.0), 4)
                self.rpc(payer).call("sendtoaddress", address, amount)
                what = f"{amount} of the policy asset"
            self.sent += 1
            self.event(f"{payer} sent {what} to {payee}")
        except RPCError as exc:
            self.event(f"{payer}: {exc}")

    def assets(self) -> list[dict[str, Any]]:
        """Issued assets and their supply, from the devnet's ``getutxoassetinfo``."""
        try:
            info = self.rpc(self.names[0] if self.names else self.fed.members[0]).call("getutxoassetinfo")
        except RPCError:
            return []
        rows = []
        for entry in info:
            asset = entry.get("asset", "")
            if asset not in self.issuer:
                continue
            supply = entry.get("amountspendable", 0) + entry.get("amountfrozen", 0)
            rows.append({"asset": asset, "supply": supply, "issuer": self.issuer[asset]})
        return rows
