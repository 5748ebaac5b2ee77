"""The upstream inflation formula in exact decimal arithmetic.

``spendable × ((1 + rate)^(block_time × period / YEAR) − 1)``, plus, for every amount
unfrozen during the last period (``getfreezehistory`` entries with ``end ≠ 0`` and
``end > height − period``), ``value × ((1 + rate)^(((height − start) // period) ×
block_time × period / YEAR) − 1)``; rounded to 8 decimals. Powers are computed with
:mod:`decimal` at 60 digits, so every member gets the same result on any machine.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

#: seconds in the 365-day year of the formula
YEAR = 31_536_000
SATOSHI = Decimal("0.00000001")
PRECISION = 60


@dataclass(frozen=True)
class Unfreeze:
    """One ``getfreezehistory`` entry of an asset: ``value`` frozen at ``start``,
    unfrozen at ``end`` (0 while still frozen)."""

    value: Decimal
    start: int
    end: int


def to_decimal(value: object) -> Decimal:
    """A JSON amount (float, int or string) as an exact decimal of at most 8 places."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError(f"not an amount: {value!r}")
    d = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    return d.quantize(SATOSHI, rounding=ROUND_HALF_EVEN)


def _growth(rate: Decimal, seconds: Decimal) -> Decimal:
    """``(1 + rate)^(seconds / YEAR) − 1``."""
    if seconds == 0 or rate == 0:
        return Decimal(0)
    return (1 + rate) ** (seconds / YEAR) - 1


def fixed_rate_amount(
    *,
    spendable: Decimal,
    rate: Decimal,
    block_time: Decimal,
    period: int,
    height: int,
    unfreezes: Iterable[Unfreeze] = (),
) -> Decimal:
    """The amount to reissue at ``height`` for an asset, rounded to 8 decimals."""
    with localcontext() as ctx:
        ctx.prec = PRECISION
        total = spendable * _growth(rate, block_time * period)
        for u in unfreezes:
            if u.end != 0 and u.end > height - period:
                periods = (height - u.start) // period
                total += u.value * _growth(rate, periods * block_time * period)
        rounded = total.quantize(SATOSHI, rounding=ROUND_HALF_EVEN)
    return max(rounded, Decimal(0)).quantize(SATOSHI)
