"""Demo clients: wallets on the devnet that issue assets and send transfers to each other."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from oceanfed.errors import RPCError
from oceanfed.launcher import LocalFederation


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

    def rpc(self, name: str) -> Any:
        return self.fed.rpc(name)

    def issue(self, name: str, amount: float = 1000, token: float = 1) -> dict[str, Any]:
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
                self.rpc(payer).call("sendtoaddress", address, amount, "", "", False, asset)
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
