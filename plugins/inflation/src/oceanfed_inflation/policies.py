"""Inflation policies: how much of an asset to reissue at a height.

A policy is a class registered under the entry point group ``oceanfed.inflation`` and
chosen by ``[inflation] policy``. It is built as ``Cls(options, settings)``: ``options``
are the ``[inflation]`` keys that are not common ones, validated by the class's
``Options`` model; ``settings`` the common ones (:class:`PolicySettings`). Example::

    class Schedule(InflationPolicy):
        class Options(PluginOptions):
            #: amount per period, by asset id
            amounts: dict[str, Decimal]

        def amount(self, request):
            return self.options.amounts.get(request.asset, Decimal(0))

A policy may also refuse a proposed reissuance: override :meth:`InflationPolicy.veto`
(or implement the ``oceanfed_inflation_veto`` hook of :mod:`oceanfed_inflation.hookspecs`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from oceanfed.errors import ConfigError
from oceanfed.interfaces import PluginOptions
from oceanfed_inflation.amount import Unfreeze, fixed_rate_amount
from oceanfed_inflation.reissuance import Reissuance


@dataclass(frozen=True)
class PolicySettings:
    """The common ``[inflation]`` keys and the federation's block time."""

    rate: Decimal | None
    period: int
    #: ``[federation] block_time`` in seconds, as an exact decimal
    block_time: Decimal


@dataclass(frozen=True)
class AmountRequest:
    """What a policy sees for one token at one height (amounts in coins, 8 decimals)."""

    #: the height being proposed
    height: int
    #: the asset reissued (hex, as RPCs show it) and its reissuance token
    asset: str
    token: str
    #: ``getutxoassetinfo``'s ``amountspendable`` for the asset at the parent block
    spendable: Decimal
    #: the asset's ``getfreezehistory`` entries
    unfreezes: Sequence[Unfreeze] = ()


class InflationPolicy:
    """Base of inflation policies: :meth:`amount` must be deterministic (every member
    computes it from its own node and the results must agree to the satoshi)."""

    Options: ClassVar[type[PluginOptions]] = PluginOptions

    def __init__(self, options: Any, settings: PolicySettings):
        self.options = options
        self.settings = settings

    def amount(self, request: AmountRequest) -> Decimal:
        """The amount to reissue, >= 0 with at most 8 decimals; 0 skips the token."""
        raise NotImplementedError

    def veto(self, height: int, reissuances: Sequence[Reissuance]) -> str | None:
        """Refuse a proposed set of reissuances: return a reason, or None to allow."""
        return None


class FixedRate(InflationPolicy):
    """``spendable × ((1 + rate)^(block_time × period / year) − 1)`` plus the back-dated
    term for amounts unfrozen during the last period (the upstream rule)."""

    def __init__(self, options: Any, settings: PolicySettings):
        super().__init__(options, settings)
        if settings.rate is None:
            raise ConfigError(
                "inflation.rate: missing required key (the fixed-rate policy needs a yearly "
                "rate, e.g. 0.02)"
            )
        self.rate: Decimal = settings.rate

    def amount(self, request: AmountRequest) -> Decimal:
        return fixed_rate_amount(
            spendable=request.spendable,
            rate=self.rate,
            block_time=self.settings.block_time,
            period=self.settings.period,
            height=request.height,
            unfreezes=request.unfreezes,
        )


class NoInflation(InflationPolicy):
    """Never reissues (the table is still checked, and the keys still imported)."""

    def amount(self, request: AmountRequest) -> Decimal:
        return Decimal(0)
