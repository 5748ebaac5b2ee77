"""Inflation on real nodes: an asset whose reissuance token sits at the federation's P2SH is
reissued every period, by the upstream formula to the satoshi."""

from __future__ import annotations

from pathlib import Path

import pytest

from oceanfed.ocean.script import multisig_script
from oceanfed_devnet.demo.clients import send_asset, set_fee_rate
from oceanfed_devnet.launcher import LocalFederation, replace_table
from testsupport.federation import fast_rounds
from testsupport.realnode import audit, wait_for

pytestmark = [pytest.mark.realnode, pytest.mark.slow]

RATE = 1_000_000_000.0
PERIOD = 5
BLOCK_TIME = 0.5
ISSUED = 1_000_000
YEAR = 31_536_000


def formula(spendable: float) -> float:
    """The upstream formula in plain floats, independent of the plugin's code."""
    return round(spendable * ((1 + RATE) ** (BLOCK_TIME * PERIOD / YEAR) - 1), 8)


def reissuances(fed: LocalFederation) -> list[tuple[int, int]]:
    """``(height, satoshi)`` of every reissuance mined so far."""
    found = []
    for height, block in enumerate(fed.blocks()):
        found.extend((height, tx.vout[0].amount or 0) for tx in block.txs[1:]
                     if tx.vin[0].issuance is not None and tx.vin[0].issuance.is_reissuance)
    return found


def test_reissued_every_period_to_the_satoshi(tmp_path: Path) -> None:
    fed = LocalFederation(tmp_path / "fed", 3, 2, block_time=BLOCK_TIME, rounds=fast_rounds(0.3),
                          clients=1, node="oceand")
    try:
        fed.start_devnet()
        c0 = fed.rpc("c0")
        set_fee_rate(c0)  # the real wallet's issueasset needs a fee rate
        issued = c0.call("issueasset", ISSUED, 10000, False)
        script = multisig_script(2, [bytes.fromhex(p) for p in fed.layout.pubkeys])
        p2sh = c0.call("decodescript", script.hex())["p2sh"]
        address = c0.call("getnewaddress")
        for name in fed.members:
            replace_table(fed.layout.fed_toml(name), "inflation", {
                "policy": "fixed-rate", "rate": RATE, "period": PERIOD, "address": address,
                "reissuance_script": script.hex(), "key_source": "signer",
            })
        fed.start()
        wait_for(lambda: c0.call("gettransaction", issued["txid"])["confirmations"] >= 1, 120,
                 "the issuance mined", interval=0.25)
        # a token of a non-policy asset: the real wallet takes the fee from the amount
        sent = send_asset(c0, p2sh, 10000, issued["token"])
        wait_for(lambda: c0.call("gettransaction", sent)["confirmations"] >= 1, 120,
                 "the token at the federation's address", interval=0.25)
        arrived = c0.call("getblockheader", c0.call("gettransaction", sent)["blockhash"])["height"]
        wait_for(lambda: len(reissuances(fed)) >= 3, 240,
                 f"three reissuances (height {fed.height()}, m0: {fed.log_tail('m0', 5)})",
                 interval=0.5)
        found = reissuances(fed)[:3]
        spendable, want = float(ISSUED), []
        for _ in found:
            amount = formula(spendable)
            want.append(round(amount * 1e8))
            spendable = round(spendable + amount, 8)
        assert [sat for _, sat in found] == want
        # a period is reissued at its first heights; the period the token arrived in (its due
        # height passed without a token to reissue) is caught up by a later check of it, or
        # by the next period's due height
        (first, _), later = found[0], [h for h, _ in found[1:]]
        assert arrived < first <= arrived - arrived % PERIOD + PERIOD + 2, (arrived, found)
        assert all(h % PERIOD in (0, 1, 2) for h in later), found
        periods = [h // PERIOD for h, _ in found]
        assert periods == list(range(periods[0], periods[0] + len(found))), found
        info = next(i for i in c0.call("getutxoassetinfo") if i["asset"] == issued["asset"])
        total = ISSUED * 10**8 + sum(want)
        assert round(info["amountspendable"] * 1e8) >= total
        tokens = fed.rpc("m0").call("listunspent", 1, 9999999, [p2sh])
        assert [t["asset"] for t in tokens] == [issued["token"]]
        assert all(fed.running(n) for n in fed.members)
        assert audit(fed) >= found[-1][0]
    finally:
        fed.close()
