"""One planned reissuance transaction: what the planner builds and the policies judge.

A leaf module, so that :mod:`oceanfed_inflation.plan` and
:mod:`oceanfed_inflation.policies` can both use it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class Reissuance:
    """One unsigned reissuance transaction and what it was built from."""

    asset: str
    token: str
    entropy: str
    #: the new amount of ``asset``, 8 decimals
    amount: Decimal
    token_txid: str
    token_vout: int
    token_amount: Any
    #: the token output's scriptPubKey (the P2SH of the reissuance script)
    script_pubkey: str
    hex: str

    def to_json(self) -> dict[str, Any]:
        return {
            "asset": self.asset, "token": self.token, "entropy": self.entropy,
            "amount": format(self.amount, "f"), "token_txid": self.token_txid,
            "token_vout": self.token_vout, "token_amount": self.token_amount,
            "script_pubkey": self.script_pubkey, "hex": self.hex,
        }
