"""Which reissuance transactions belong in the block at a height, from the node's view.

Every member runs :meth:`Planner.plan` for the height being proposed against its own node
(whose tip must be the proposal's parent) and must reach byte-identical transactions.

Schedule (``P`` = period, ``D`` = the latest height ``<= h`` with ``D % P == 0``):

* ``h % P == 0``: one reissuance per confirmed token at the P2SH address (upstream rule),
  or only those of the assets listed in ``inflation.assets``.
* ``h % P >= 2`` (a check height, ``D > 0``): the reissuance of period ``D`` is
  confirmed when each token with a non-zero amount was re-created after ``D`` (or is in
  the mempool). None re-created: they are built again (retry). Some but not all: a
  partial reissuance, which stops the federation (upstream's fatal case).
* other heights: nothing.

A token whose reissuance is in the mempool is not visible as an unspent token, so it is
neither built again nor counted as pending.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from oceanfed.errors import DecodeError, OceanfedError
from oceanfed.ocean.tx import Transaction
from oceanfed_inflation.amount import Unfreeze, to_decimal
from oceanfed_inflation.policies import AmountRequest, InflationPolicy
from oceanfed_inflation.reissuance import Reissuance

#: the first offset in a period at which the previous reissuance is checked
CHECK_FROM = 2
#: upstream: token outputs hold more than this (tokens are issued in units of 10,000)
MIN_TOKEN_AMOUNT = 9999
NULL = "null"


class StaleView(OceanfedError):
    """The node's tip is not the parent of the height being planned."""


@dataclass
class Plan:
    """The outcome of planning one height."""

    height: int
    #: ``due``, ``check`` or ``idle``
    kind: str
    reissuances: list[Reissuance] = field(default_factory=list)
    #: set when a period's reissuance was mined for some tokens only
    partial: str | None = None
    #: set at a check height when the period's reissuance is confirmed
    confirmed: bool = False
    #: assets whose tokens sit at the reissuance address but are not to be reissued
    left_alone: list[str] = field(default_factory=list)

    @property
    def hexes(self) -> list[str]:
        return [r.hex for r in self.reissuances]


def schedule(height: int, period: int) -> str:
    """``due``, ``check`` or ``idle`` for the height being proposed."""
    offset = height % period
    if offset == 0:
        return "due"
    if offset >= CHECK_FROM and height - offset > 0:
        return "check"
    return "idle"


def proposed_amount(tx_hex: str) -> Decimal | None:
    """The reissued amount in a reissuance transaction's first output (None if unreadable)."""
    try:
        tx = Transaction.from_hex(tx_hex)
    except (DecodeError, ValueError):
        return None
    if not tx.vout or tx.vout[0].amount is None:
        return None
    return Decimal(tx.vout[0].amount) / Decimal(100_000_000)


class Planner:
    """Builds the reissuance plan of a height through a node client."""

    def __init__(
        self,
        call: Callable[..., Any],
        policy: InflationPolicy,
        *,
        period: int,
        address: str,
        p2sh_address: str,
        assets: Collection[str] | None = None,
    ):
        self.call = call
        self.policy = policy
        #: the assets to reissue; None: every token at the address
        self.assets = frozenset(assets) if assets is not None else None
        self.period = period
        self.address = address
        self.p2sh_address = p2sh_address

    def plan(self, height: int) -> Plan:
        kind = schedule(height, self.period)
        if kind == "idle":
            return Plan(height, kind)
        tip = int(self.call("getblockcount"))
        if tip != height - 1:
            raise StaleView(f"the node's tip is {tip}, not the parent of height {height}")
        tokens = self._tokens()
        if not tokens:
            return Plan(height, kind, confirmed=kind == "check")
        infos = {
            i["token"]: i for i in self.call("getutxoassetinfo")
            if i.get("token") not in (None, NULL)
        }
        freezes = self.call("getfreezehistory")
        due = height - height % self.period
        build: list[tuple[dict[str, Any], dict[str, Any], Decimal]] = []
        pending: list[str] = []
        reissued: list[str] = []
        left_alone: list[str] = []
        for utxo in tokens:
            info = infos.get(utxo["asset"])
            if info is None or info.get("entropy") in (None, NULL):
                continue
            if self.assets is not None and info["asset"] not in self.assets:
                left_alone.append(info["asset"])
                continue
            amount = self.policy.amount(self._request(height, info, freezes))
            if amount <= 0:
                continue
            confirmations = int(utxo.get("confirmations", 0))
            in_flight = confirmations <= 0
            if kind == "due":
                if not in_flight:
                    build.append((utxo, info, amount))
                continue
            created = tip - confirmations + 1
            if in_flight or created > due:
                reissued.append(info["asset"])
            else:
                pending.append(info["asset"])
                build.append((utxo, info, amount))
        if kind == "check":
            if pending and reissued:
                return Plan(
                    height, kind,
                    partial=(
                        f"the reissuance of period {due} was mined for asset(s) "
                        f"{', '.join(a[:16] for a in reissued)} but not for "
                        f"{', '.join(a[:16] for a in pending)}"
                    ),
                    left_alone=left_alone,
                )
            if not pending:
                return Plan(height, kind, confirmed=True, left_alone=left_alone)
        return Plan(height, kind, [self._create(u, i, a) for u, i, a in build], left_alone=left_alone)

    def _tokens(self) -> list[dict[str, Any]]:
        unspent = self.call("listunspent", 0, 9999999, [self.p2sh_address])
        tokens = [u for u in unspent if to_decimal(u["amount"]) > MIN_TOKEN_AMOUNT]
        return sorted(tokens, key=lambda u: (u["txid"], int(u["vout"])))

    def _request(
        self, height: int, info: dict[str, Any], freezes: Sequence[dict[str, Any]]
    ) -> AmountRequest:
        asset = info["asset"]
        unfreezes = tuple(
            Unfreeze(to_decimal(f["value"]), int(f["start"]), int(f["end"]))
            for f in freezes
            if f.get("asset") == asset
        )
        return AmountRequest(
            height=height, asset=asset, token=info["token"],
            spendable=to_decimal(info["amountspendable"]), unfreezes=unfreezes,
        )

    def _create(self, utxo: dict[str, Any], info: dict[str, Any], amount: Decimal) -> Reissuance:
        raw = self.call(
            "createrawreissuance", self.address, format(amount, "f"), self.p2sh_address,
            utxo["amount"], utxo["txid"], str(utxo["vout"]), info["entropy"],
        )
        if raw.get("asset") != info["asset"]:
            raise OceanfedError(
                f"createrawreissuance for token {utxo['asset'][:16]} reissues {raw.get('asset')}, "
                f"not {info['asset']}"
            )
        return Reissuance(
            asset=info["asset"], token=utxo["asset"], entropy=info["entropy"], amount=amount,
            token_txid=utxo["txid"], token_vout=int(utxo["vout"]), token_amount=utxo["amount"],
            script_pubkey=utxo["scriptPubKey"], hex=raw["hex"],
        )
