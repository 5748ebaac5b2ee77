"""The inflation formula: exact decimals, checked against an independent evaluation
through ``exp(t·ln(1 + rate))`` and against hand-worked back-dated terms."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, localcontext

import pytest

from oceanfed_inflation.amount import YEAR, Unfreeze, fixed_rate_amount, to_decimal


def reference(spendable: str, rate: str, seconds: Decimal) -> Decimal:
    """``spendable · ((1+rate)^(seconds/YEAR) − 1)`` through ln/exp at 80 digits."""
    with localcontext() as ctx:
        ctx.prec = 80
        growth = ((Decimal(rate) + 1).ln() * seconds / YEAR).exp() - 1
        return Decimal(spendable) * growth


def q(d: Decimal) -> Decimal:
    return d.quantize(Decimal("1e-8"), rounding=ROUND_HALF_EVEN)


@pytest.mark.parametrize(
    ("spendable", "rate", "block_time", "period"),
    [
        ("1000000", "0.02", "60", 10),
        ("21000000", "0.5", "60", 1440),
        ("1234.56789012", "0.1", "0.5", 5),
        ("1000000", "1000000000", "0.5", 5),
        ("0.00000001", "0.02", "60", 10),
    ],
)
def test_base_term(spendable: str, rate: str, block_time: str, period: int) -> None:
    got = fixed_rate_amount(
        spendable=Decimal(spendable), rate=Decimal(rate), block_time=Decimal(block_time),
        period=period, height=period * 7,
    )
    assert got == q(reference(spendable, rate, Decimal(block_time) * period))
    assert got.as_tuple().exponent == -8


def test_one_period_at_two_percent_a_year() -> None:
    # 1,000,000 coins, 2 %/year, a 10-minute period: about 0.3768 coins
    got = fixed_rate_amount(spendable=Decimal(1_000_000), rate=Decimal("0.02"),
                            block_time=Decimal(60), period=10, height=100)
    assert Decimal("0.376") < got < Decimal("0.377")


def test_zero_rate_and_zero_supply() -> None:
    for spendable, rate in ((Decimal(5), Decimal(0)), (Decimal(0), Decimal("0.1"))):
        got = fixed_rate_amount(spendable=spendable, rate=rate, block_time=Decimal(60),
                                period=10, height=20)
        assert got == 0 and format(got, "f") == "0.00000000"


def test_back_dated_unfreeze() -> None:
    rate, bt, period, height = Decimal("0.3"), Decimal(60), 10, 100
    unfreezes = [
        Unfreeze(Decimal(500), start=62, end=95),   # unfrozen in the last period: (100-62)//10 = 3 periods
        Unfreeze(Decimal(700), start=10, end=91),   # 9 periods
        Unfreeze(Decimal(900), start=10, end=90),   # unfrozen before the last period: ignored
        Unfreeze(Decimal(800), start=80, end=0),    # still frozen: ignored
    ]
    got = fixed_rate_amount(spendable=Decimal(1000), rate=rate, block_time=bt, period=period,
                            height=height, unfreezes=unfreezes)
    one = bt * period
    want = (reference("1000", "0.3", one) + reference("500", "0.3", 3 * one)
            + reference("700", "0.3", 9 * one))
    assert got == q(want)
    without = fixed_rate_amount(spendable=Decimal(1000), rate=rate, block_time=bt, period=period,
                                height=height)
    assert got > without


def test_json_amounts_are_exact() -> None:
    assert to_decimal(1000001.64282747) == Decimal("1000001.64282747")
    assert to_decimal(0.1) == Decimal("0.10000000")
    assert to_decimal("21000000.00000001") == Decimal("21000000.00000001")
    with pytest.raises(ValueError):
        to_decimal(True)
