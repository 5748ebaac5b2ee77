"""The inflation engine in this process against a served devnet: the same code the
member hooks call, driven height by height with blocks mined by hand."""

from __future__ import annotations

from decimal import Decimal

import pytest

from oceanfed.errors import FatalError
from oceanfed.ocean.tx import Transaction
from oceanfed_inflation.engine import Inflation
from oceanfed_inflation.policies import FixedRate

from .conftest import PERIOD, InflationNet, formula


def mine_to(net: InflationNet, height: int) -> None:
    while int(net.node().call("getblockcount")) < height:
        net.mine()


def tampered(extras: dict, satoshi_more: int) -> dict:
    """The same extras with the first reissuance's amount changed."""
    from dataclasses import replace

    from oceanfed.ocean.tx import explicit_value

    item = dict(extras["inflation"]["txs"][0])
    tx = Transaction.from_hex(item["hex"])
    out = replace(tx.vout[0], value=explicit_value((tx.vout[0].amount or 0) + satoshi_more))
    item["hex"] = replace(tx, vout=(out, *tx.vout[1:])).hex()
    return {"inflation": {**extras["inflation"], "txs": [item]}}


def test_due_height_round_trip(net: InflationNet) -> None:
    engines = {n: net.engine(n)[0] for n in ("m0", "m1", "m2")}
    # start-up imported the P2SH address (and the file keys) into each member's wallet
    for name in ("m0", "m1", "m2"):
        assert net.node(name).call("validateaddress", net.p2sh)["iswatchonly"] is True
    assert net.node("m1").call("validateaddress", net.node("m1").call(
        "listunspent", 0, 9999999, [net.p2sh])[0]["address"])["isvalid"]
    mine_to(net, PERIOD - 1)
    h = PERIOD
    assert engines["m0"].extras(h - 1) is None  # not due, not a check height
    extras = engines["m0"].extras(h)
    assert extras is not None
    [item] = extras["inflation"]["txs"]
    want = Decimal(repr(formula(float(net.spendable()))))
    assert Decimal(item["amount"]) == want
    # every member computes the same bytes from its own node
    assert engines["m1"].validate(h, extras) is None
    assert engines["m2"].validate(h, extras) is None
    # a wrong amount, a missing or an unexpected reissuance is refused
    assert engines["m1"].validate(h, tampered(extras, 1)) == "inflation-mismatch"
    assert engines["m1"].validate(h, {}) == "inflation-missing"
    assert engines["m1"].validate(h + 1, extras) == "inflation-unexpected"
    assert engines["m1"].counters["inflation-mismatch"] == 1
    # m2 did not approve the tampered transaction, so it will not sign it
    assert engines["m2"].sign(h, tampered(extras, 1)) is None
    sigs = {n: engines[n].sign(h, extras) for n in ("m0", "m2")}
    assert all(s is not None for s in sigs.values())
    # one signature is not enough: nothing is sent
    engines["m1"].complete(h, extras, {"m2": sigs["m2"]})
    assert net.node().call("getrawmempool") == []
    mine_to(net, h)
    engines["m1"].complete(h, extras, sigs)
    engines["m2"].complete(h, extras, sigs)  # a second sender is harmless
    before = net.spendable()
    balance = net.node("c0").call("getbalance")[net.asset]
    net.mine()
    assert net.spendable() == before + want
    # paid to the inflation address (a c0 address)
    assert net.node("c0").call("getbalance")[net.asset] == float(Decimal(repr(balance)) + want)
    # the next check height finds the period confirmed and builds nothing
    mine_to(net, h + 1)
    assert engines["m0"].extras(h + 2) is None
    assert engines["m1"].validate(h + 2, {}) is None
    assert engines["m0"].counters["periods_confirmed"] == 1


def test_retry_when_not_sent(net: InflationNet) -> None:
    m0, _ = net.engine("m0")
    m1, _ = net.engine("m1")
    mine_to(net, PERIOD - 1)
    first = m0.extras(PERIOD)
    assert first is not None
    mine_to(net, PERIOD + 1)  # the reissuance was never combined and sent
    retry = m1.extras(PERIOD + 2)
    assert retry is not None and m1.counters["retries"] == 1
    assert m0.validate(PERIOD + 2, retry) is None
    assert m0.validate(PERIOD + 2, {}) == "inflation-missing"


def test_partial_reissuance_is_fatal(net: InflationNet) -> None:
    # a second asset whose token also sits at the reissuance address
    c0 = net.node("c0")
    other = c0.call("issueasset", 5000, 10000)
    c0.call("sendtoaddress", net.p2sh, 10000, "", "", False, other["token"])
    net.mine()
    m0, _ = net.engine("m0")
    m2, _ = net.engine("m2")
    mine_to(net, PERIOD - 1)
    extras = m0.extras(PERIOD)
    assert extras is not None and len(extras["inflation"]["txs"]) == 2
    assert m2.validate(PERIOD, extras) is None
    sigs = {"m0": m0.sign(PERIOD, extras), "m2": m2.sign(PERIOD, extras)}
    mine_to(net, PERIOD)
    # only the first reissuance is combined and mined
    first = {"inflation": {"txs": extras["inflation"]["txs"][:1]}}
    m0.complete(PERIOD, first, sigs)
    net.mine()
    assert len(net.reissuances()) == 1
    with pytest.raises(FatalError, match="mined for asset"):
        m0.extras(PERIOD + 2)
    assert m2.validate(PERIOD + 2, {}) == "inflation-partial"


class Capped(FixedRate):
    def veto(self, height, reissuances):
        return "over the cap" if any(r.amount > 1 for r in reissuances) else None


def test_policy_veto(net: InflationNet) -> None:
    honest, _ = net.engine("m0")
    m1, _ = net.engine("m1")
    capped = Inflation(
        m1.opts, Capped(m1.policy.options, m1.policy.settings), m1.key, m1.context,
        p2sh_address=m1.p2sh_address, p2sh_script=m1.p2sh_script,
    )
    mine_to(net, PERIOD - 1)
    extras = honest.extras(PERIOD)
    assert extras is not None
    assert capped.validate(PERIOD, extras) == "inflation-veto"
    assert capped.extras(PERIOD) is None  # its own proposals carry no reissuance
    assert capped.counters["vetoed"] == 1


def _listing(engine: Inflation, assets: tuple[str, ...] | None) -> Inflation:
    """The same member's engine with ``inflation.assets`` set to ``assets``."""
    return Inflation(
        engine.opts.model_copy(update={"assets": assets}), engine.policy, engine.key,
        engine.context, p2sh_address=engine.p2sh_address, p2sh_script=engine.p2sh_script,
    )


def test_only_the_listed_assets_are_reissued(net: InflationNet, caplog: pytest.LogCaptureFixture) -> None:
    """A token of another asset sent to the reissuance address (anyone who can issue an
    asset can send one) was reissued every period, one more transaction to build and sign
    each. With ``inflation.assets`` it is left alone, logged once, and the period's own
    reissuance is confirmed without it (not taken for a partial one)."""
    c0 = net.node("c0")
    other = c0.call("issueasset", 5000, 10000)
    c0.call("sendtoaddress", net.p2sh, 10000, "", "", False, other["token"])
    net.mine()
    m0 = _listing(net.engine("m0")[0], (net.asset,))
    m2 = _listing(net.engine("m2")[0], (net.asset,))
    unlisted = net.engine("m1")[0]
    mine_to(net, PERIOD - 1)
    with caplog.at_level("WARNING"):
        extras = m0.extras(PERIOD)
        m0.extras(PERIOD)
    assert extras is not None
    assert [item["asset"] for item in extras["inflation"]["txs"]] == [net.asset]
    left = [r.getMessage() for r in caplog.records if "left alone" in r.getMessage()]
    assert left == [f"inflation: a token of asset {other['asset']} sits at the reissuance "
                    "address, but the asset is not in inflation.assets: left alone"]
    assert m2.validate(PERIOD, extras) is None
    # a member that reissues every token expects the other one too: the lists must agree
    assert unlisted.validate(PERIOD, extras) == "inflation-mismatch"
    sigs = {"m0": m0.sign(PERIOD, extras), "m2": m2.sign(PERIOD, extras)}
    mine_to(net, PERIOD)
    m0.complete(PERIOD, extras, sigs)
    net.mine()
    assert len(net.reissuances()) == 1
    assert m0.extras(PERIOD + 2) is None and m0.counters["periods_confirmed"] == 1
    assert m2.validate(PERIOD + 2, {}) is None
