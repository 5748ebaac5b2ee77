"""Inflation on a running 2-of-3 devnet federation (real devnet and member processes),
period 5 blocks, block time 0.5 s."""

from __future__ import annotations

import re
import time

from oceanfed.ocean.tx import Transaction

from .conftest import ISSUED, PERIOD, TESTDIST, InflationNet, formula


def expected_amounts(periods: int) -> list[int]:
    """Satoshi reissued in each of the first ``periods`` periods, by the formula."""
    spendable, out = float(ISSUED), []
    for _ in range(periods):
        amount = formula(spendable)
        out.append(round(amount * 1e8))
        spendable = round(spendable + amount, 8)
    return out


def accepted_line(net: InflationNet, height: int) -> str:
    """The 'block H … accepted (proposer …, round …)' log line of any member."""
    pattern = re.compile(rf"block {height} [0-9a-f]+ accepted \(proposer \w+, round \d+")
    for name in net.fed.members:
        path = net.fed.dir / "logs" / f"{name}.log"
        if path.exists():
            found = pattern.search(path.read_text(errors="replace"))
            if found:
                return found.group(0)
    return ""


def test_three_periods_match_formula(net: InflationNet) -> None:
    net.fed.start()
    found = net.wait_reissuances(3, timeout=60)
    assert len(found) == 3, (found, net.fed.height(), net.fed.log_tail("m0", 20))
    heights = [h for h, _ in found]
    # one reissuance per period, mined right after its due height
    assert [h // PERIOD for h in heights] == [1, 2, 3]
    assert all(h % PERIOD in (1, 2) for h in heights)
    want = expected_amounts(3)
    assert [abs(sat - w) <= 1 for (_, sat), w in zip(found, want, strict=True)] == [True] * 3
    total = ISSUED * 10**8 + sum(sat for _, sat in found)
    assert round(float(net.spendable()) * 1e8) == total
    assert abs(total - (ISSUED * 10**8 + sum(want))) <= 1
    # the token is back at the reissuance address, and nobody stopped
    tokens = net.node("m1").call("listunspent", 1, 9999999, [net.p2sh])
    assert [t["asset"] for t in tokens] == [net.token]
    assert all(net.fed.running(n) for n in net.fed.members)


def test_one_member_down(net: InflationNet) -> None:
    net.fed.start(["m0", "m1"])  # m2 (a key-file member) is down throughout
    found = net.wait_reissuances(2, timeout=60)
    assert len(found) == 2, (found, net.fed.height(), net.fed.log_tail("m0", 20))
    want = expected_amounts(2)
    assert all(abs(sat - w) <= 1 for (_, sat), w in zip(found, want, strict=True))
    # m2's slot at the first due height timed out: another member proposed in a later round
    line = accepted_line(net, PERIOD)
    assert line and "proposer m2" not in line and "round 0" not in line, line


def test_wrong_amount_gets_no_signatures(net: InflationNet) -> None:
    # m2 computes 1.5 times the amount (a test-only policy installed for it alone); it is
    # the round-0 proposer at height 5, the first due height
    assert PERIOD % 3 == 2
    from oceanfed_devnet.launcher import replace_table

    replace_table(net.fed.layout.fed_toml("m2"), "inflation",
                  {**net.tables["m2"], "policy": "skewed-test"})
    net.fed.start_member("m0")
    net.fed.start_member("m1")
    net.fed.start_member("m2", env={"PYTHONPATH": str(TESTDIST)})
    found = net.wait_reissuances(1, timeout=45)
    assert len(found) == 1, (net.fed.height(), net.fed.log_tail("m2", 20))
    [(height, sat)] = found
    [right] = expected_amounts(1)
    wrong = round(right * 1.5)
    assert abs(sat - right) <= 1 and height in (PERIOD + 1, PERIOD + 2)
    # block 5 came from a later round, not from m2's round-0 proposal
    line = accepted_line(net, PERIOD)
    assert line and "proposer m2" not in line and "round 0" not in line, line
    # the honest members refused m2's proposal, and said so
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        statuses = [net.fed.status(n) or {} for n in ("m0", "m1")]
        if all(s.get("counters", {}).get("proposal_rejected:inflation-mismatch") for s in statuses):
            break
        time.sleep(0.2)
    for name, status in zip(("m0", "m1"), statuses, strict=True):
        assert status["counters"].get("proposal_rejected:inflation-mismatch", 0) >= 1, name
        log = (net.fed.dir / "logs" / f"{name}.log").read_text()
        assert "refusing the proposal (inflation-mismatch)" in log
    # the wrong amount is nowhere: not mined, not in the mempool
    mempool = [Transaction.from_hex(net.node().call("getrawtransaction", t))
               for t in net.node().call("getrawmempool")]
    amounts = [sat for _, sat in net.reissuances()] + [
        tx.vout[0].amount for tx in mempool if tx.vin[0].issuance is not None]
    assert wrong not in amounts
