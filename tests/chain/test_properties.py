"""Property tests: spends of missing or spent outputs are refused, and per-asset sums
balance in every accepted transaction and in the UTXO set."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oceanfed.crypto import pubkey_of
from oceanfed.keyfile import generate_private_key
from oceanfed.ocean.address import p2pkh_of_pubkey
from oceanfed.ocean.encoding import hash160
from oceanfed.ocean.interpreter import STANDARD_FLAGS
from oceanfed.ocean.tx import Transaction, TxIn, TxOut, explicit_asset, explicit_value
from oceanfed_devnet.signing import sign_transaction
from oceanfed_devnet.state import Coin, TxReject, UtxoState, check_tx

KEY = generate_private_key()
SCRIPT = p2pkh_of_pubkey(pubkey_of(KEY))
ASSETS = [bytes([i]) * 32 for i in (1, 2)]
#: a coinbase at height 2 paying nothing
COINBASE = Transaction(2, (TxIn(bytes(32), 0xFFFFFFFF, b"\x52\x01\x01"),), ())


def _state(values: list[tuple[int, int]]) -> UtxoState:
    state = UtxoState()
    for n, (asset, value) in enumerate(values):
        state.add_coin((b"\xaa" * 32, n), Coin(ASSETS[asset], value, SCRIPT, 1))
    return state


def _signed(state: UtxoState, inputs: list[tuple[bytes, int]], outs: list[TxOut]) -> Transaction:
    tx = Transaction(2, tuple(TxIn(t, n) for t, n in inputs), tuple(outs), 0)
    prevouts = {i: SCRIPT for i in range(len(inputs))}
    signed, _ = sign_transaction(tx, prevouts, {hash160(pubkey_of(KEY)): KEY}, lambda s: None)
    return signed


coins = st.lists(st.tuples(st.integers(0, 1), st.integers(1, 10**12)), min_size=1, max_size=4)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(coins, st.data())
def test_unknown_or_spent_outputs_are_refused(values, data) -> None:
    state = _state(values)
    n = data.draw(st.integers(0, len(values) + 3))
    txid = data.draw(st.sampled_from([b"\xaa" * 32, b"\xbb" * 32]))
    asset, value = values[n] if n < len(values) and txid == b"\xaa" * 32 else (0, 1)
    out = TxOut(explicit_asset(ASSETS[asset]), explicit_value(value), SCRIPT)
    tx = _signed(state, [(txid, n)], [out])
    exists = txid == b"\xaa" * 32 and n < len(values)
    try:
        check_tx(tx, state.get, 2, STANDARD_FLAGS)
        accepted = True
    except TxReject as exc:
        accepted = False
        assert not exists or exc.reason != "bad-txns-inputs-missingorspent"
    assert accepted == exists
    if exists:  # once spent, the same output is refused
        diff = state.connect([COINBASE, tx], 2, STANDARD_FLAGS)
        state.apply(diff)
        try:
            check_tx(tx, state.get, 3, STANDARD_FLAGS)
        except TxReject as exc:
            assert exc.missing
        else:
            raise AssertionError("a spent output was spent again")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(coins, st.lists(st.integers(0, 10**12), min_size=1, max_size=4))
def test_per_asset_sums_balance(values, split) -> None:
    state = _state(values)
    totals = {a: 0 for a in ASSETS}
    for asset, value in values:
        totals[ASSETS[asset]] += value
    outs = []
    for asset, total in totals.items():
        if not total:
            continue
        used = 0
        for p in (min(p, total) for p in split if p):
            if used + p > total:
                break
            outs.append(TxOut(explicit_asset(asset), explicit_value(p), SCRIPT))
            used += p
        if total - used:
            outs.append(TxOut(explicit_asset(asset), explicit_value(total - used), b""))
    inputs = [(b"\xaa" * 32, n) for n in range(len(values))]
    tx = _signed(state, inputs, outs)
    check_tx(tx, state.get, 2, STANDARD_FLAGS)  # balanced: accepted
    # One unit more or less of any output breaks the balance.
    k = len(outs) - 1
    for delta in (1, -1):
        value = outs[k].amount + delta  # type: ignore[operator]
        if value < 0:
            continue
        bad = outs[:k] + [TxOut(outs[k].asset, explicit_value(value), outs[k].script_pubkey)]
        try:
            check_tx(_signed(state, inputs, bad), state.get, 2, STANDARD_FLAGS)
        except TxReject as exc:
            assert exc.reason == "bad-txns-in-ne-out"
        else:
            raise AssertionError("an unbalanced transaction was accepted")
    # Connected, the UTXO set plus the fees still hold every unit of every asset.
    diff = state.connect([COINBASE, tx], 2, STANDARD_FLAGS)
    state.apply(diff)
    fees = {a: 0 for a in ASSETS}
    for o in tx.vout:
        if not o.script_pubkey:
            fees[o.asset[1:]] += o.amount or 0
    for asset in ASSETS:
        t = state.totals.get(asset, [0, 0, 0, 0])
        assert t[1] + t[3] + fees[asset] == totals[asset]
