"""Wallet JSON-RPC methods of an endpoint: addresses, keys, balances, sends and assets.

Sends select the wallet's coins largest first per asset, pay a fee of 20 sat/byte
(the node's fallback 0.0002/kB) in the policy asset as an explicit fee output, return
change per asset to a fresh address, set nLockTime to the tip height with nSequence
0xfffffffe (as the node does), sign, and go through the mempool like
``sendrawtransaction``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from oceanfed.ocean.address import (
    address_to_script,
    decode_wif,
    encode_wif,
    is_p2pkh,
    is_p2sh,
    script_to_address,
)
from oceanfed.ocean.assets import issuance_entropy, issued_asset_id, reissuance_token_id
from oceanfed.ocean.proof import is_hex
from oceanfed.ocean.tx import (
    AssetIssuance,
    Transaction,
    TxIn,
    TxOut,
    explicit_asset,
    explicit_value,
)
from oceanfed_devnet.chain import (
    RPC_INVALID_ADDRESS_OR_KEY,
    RPC_INVALID_PARAMETER,
    ChainError,
)
from oceanfed_devnet.rpc_registry import (
    RPC_METHOD_NOT_FOUND,
    RPC_TYPE_ERROR,
    RPC_WALLET_ERROR,
    Endpoint,
    address_arg,
    amount_arg,
    expect,
    method,
    submit_tx,
)
from oceanfed_devnet.signing import sign_transaction
from oceanfed_devnet.state import COINBASE_MATURITY, Coin, Outpoint
from oceanfed_devnet.txjson import POLICY_LABEL, amount_json, asset_hex
from oceanfed_devnet.wallet import Wallet

RPC_WALLET_INSUFFICIENT_FUNDS = -6
#: satoshi per byte of the signed transaction
FEE_RATE = 20
#: bytes a P2PKH signature and key add to an input
INPUT_SCRIPT_SIZE = 107
SEQUENCE = 0xFFFFFFFE
ZERO32 = "0" * 64


def wallet_of(ep: Endpoint) -> Wallet:
    if ep.wallet is None:
        raise ChainError(RPC_METHOD_NOT_FOUND, "Method not found (wallet disabled)")
    return ep.wallet


def asset_arg(ep: Endpoint, value: Any) -> bytes:
    text = expect(value, str, "asset")
    if text == POLICY_LABEL:
        return ep.chain.policy_asset
    if len(text) != 64 or not is_hex(text):
        raise ChainError(RPC_INVALID_PARAMETER, f"Unknown label and invalid asset hex: {text}")
    return bytes.fromhex(text)[::-1]


def label_arg(value: Any) -> str:
    text: str = expect(value, str, "account")
    if text == "*":
        raise ChainError(RPC_WALLET_ERROR - 7, "Invalid account name")  # -11
    return text


# -- coins -------------------------------------------------------------------------------
@dataclass(frozen=True)
class WalletCoin:
    outpoint: Outpoint
    coin: Coin
    confirmations: int
    mine: bool


def wallet_coins(ep: Endpoint, wallet: Wallet, *, include_mempool: bool = True) -> list[WalletCoin]:
    """The wallet's unspent coins (chain and, optionally, mempool), by txid then vout."""
    chain = ep.chain
    scripts = wallet.scripts()
    out: list[WalletCoin] = []
    with chain.lock:
        tip = chain.height
        for op in chain.state.outpoints_for(scripts):
            if op in chain.mempool.spent:
                continue
            coin = chain.state.coins[op]
            out.append(WalletCoin(op, coin, tip - coin.height + 1, wallet.is_mine(coin.script)))
        if include_mempool:
            for op, coin in chain.mempool.outputs.items():
                if coin.script in scripts and op not in chain.mempool.spent:
                    out.append(WalletCoin(op, coin, 0, wallet.is_mine(coin.script)))
    out.sort(key=lambda c: c.outpoint)
    return out


def immature(c: WalletCoin) -> bool:
    """A coinbase output the node's wallet does not count yet: it waits for
    ``COINBASE_MATURITY + 1`` confirmations (``GetBlocksToMaturity``)."""
    return c.coin.coinbase and c.confirmations <= COINBASE_MATURITY


def spendable(c: WalletCoin) -> bool:
    """Whether the wallet may fund a transaction with ``c``: its own and mature. Frozen
    outputs are spendable, as with the node's wallet."""
    return c.mine and not immature(c)


def _address(script: bytes) -> str:
    return script_to_address(script) or ""


# -- building ----------------------------------------------------------------------------
def build_and_send(
    ep: Endpoint,
    outputs: list[TxOut],
    *,
    fixed: list[tuple[WalletCoin, AssetIssuance | None]] = (),  # type: ignore[assignment]
    minted: dict[bytes, int] | None = None,
    account: str | None = None,
) -> tuple[str, int]:
    """Fund, sign and submit a transaction paying ``outputs``; ``fixed`` inputs come
    last (with their issuance). Returns the txid hex and the index of the first fixed
    input."""
    wallet = wallet_of(ep)
    chain = ep.chain
    policy = chain.policy_asset
    with chain.lock:
        fixed_ops = {c.outpoint for c, _ in fixed}
        pool = [
            c
            for c in wallet_coins(ep, wallet)
            if spendable(c) and c.outpoint not in fixed_ops
        ]
        pool.sort(key=lambda c: -c.coin.value)
        need: dict[bytes, int] = {}
        for o in outputs:
            asset = o.asset[1:]
            need[asset] = need.get(asset, 0) + (o.amount or 0)
        have: dict[bytes, int] = {}
        for c, _ in fixed:
            have[c.coin.asset] = have.get(c.coin.asset, 0) + c.coin.value
        for asset, amount in (minted or {}).items():
            have[asset] = have.get(asset, 0) + amount
        if account is not None:
            balance = sum(
                c.coin.value
                for c in pool
                if c.coin.asset == policy and wallet.label(c.coin.script) == account
            )
            if need.get(policy, 0) > balance:
                raise ChainError(RPC_WALLET_INSUFFICIENT_FUNDS, "Account has insufficient funds")
        fee = 0
        for _ in range(10):
            chosen = _select(pool, need, have, policy, fee)
            tx = _assemble(chain.height, chosen, fixed, outputs, need, have, fee, wallet, policy)
            size = len(tx.serialize()) + INPUT_SCRIPT_SIZE * len(tx.vin)
            if size * FEE_RATE <= fee:
                break
            fee = size * FEE_RATE
        prevouts = {i: _prev_script(ep, txin) for i, txin in enumerate(tx.vin)}
        signed, errors = sign_transaction(tx, prevouts, dict(wallet.keys), wallet.redeem_for)
        if errors:
            raise ChainError(RPC_WALLET_ERROR, "Signing transaction failed")
        return submit_tx(ep, signed), len(chosen)


def _prev_script(ep: Endpoint, txin: TxIn) -> bytes:
    coin = ep.chain.mempool.lookup(ep.chain.state, (txin.prev_txid, txin.prev_index))
    assert coin is not None
    return coin.script


def _select(
    pool: list[WalletCoin], need: dict[bytes, int], have: dict[bytes, int], policy: bytes, fee: int
) -> list[WalletCoin]:
    chosen: list[WalletCoin] = []
    want = dict(need)
    want[policy] = want.get(policy, 0) + fee
    for asset, amount in want.items():
        got = have.get(asset, 0)
        for c in pool:
            if got >= amount:
                break
            if c.coin.asset == asset:
                chosen.append(c)
                got += c.coin.value
        if got < amount:
            raise ChainError(RPC_WALLET_INSUFFICIENT_FUNDS, "Insufficient funds")
    return chosen


def _assemble(
    height: int,
    chosen: list[WalletCoin],
    fixed: list[tuple[WalletCoin, AssetIssuance | None]],
    outputs: list[TxOut],
    need: dict[bytes, int],
    have: dict[bytes, int],
    fee: int,
    wallet: Wallet,
    policy: bytes,
) -> Transaction:
    vin = [TxIn(c.outpoint[0], c.outpoint[1], b"", SEQUENCE) for c in chosen]
    vin += [TxIn(c.outpoint[0], c.outpoint[1], b"", SEQUENCE, issuance=i) for c, i in fixed]
    totals = dict(have)
    for c in chosen:
        totals[c.coin.asset] = totals.get(c.coin.asset, 0) + c.coin.value
    spend = dict(need)
    spend[policy] = spend.get(policy, 0) + fee
    change = []
    for asset in sorted(totals):
        rest = totals[asset] - spend.get(asset, 0)
        if rest > 0:
            change.append(
                TxOut(explicit_asset(asset), explicit_value(rest), _change_script(wallet))
            )
    vout = [*outputs, *change, TxOut(explicit_asset(policy), explicit_value(fee), b"")]
    return Transaction(2, tuple(vin), tuple(vout), height)


def _change_script(wallet: Wallet) -> bytes:
    return wallet.new_key("")


# -- addresses and keys ------------------------------------------------------------------
@method(
    "getnewaddress",
    0,
    1,
    'getnewaddress ( "account" )\n\nReturns a new Bitcoin address for receiving payments.\n',
)
def getnewaddress(ep: Endpoint, params: list[Any]) -> str:
    label = label_arg(params[0]) if params else ""
    return _address(wallet_of(ep).new_key(label))


@method(
    "importprivkey",
    1,
    2,
    'importprivkey "bitcoinprivkey" ( "label" ) ( rescan )\n\nAdds a private key (as returned by dumpprivkey) to your wallet.\n',
)
def importprivkey(ep: Endpoint, params: list[Any]) -> None:
    wallet = wallet_of(ep)
    text = expect(params[0], str, "privkey")
    label = expect(params[1], str, "label") if len(params) > 1 else ""
    if len(params) > 2:
        expect(params[2], bool, "rescan")
    try:
        key = decode_wif(text)
        wallet.import_key(key, label)
    except ValueError:
        raise ChainError(RPC_INVALID_ADDRESS_OR_KEY, "Invalid private key encoding") from None
    return None


@method(
    "importaddress",
    1,
    3,
    'importaddress "address" ( "label" rescan p2sh )\n\nAdds a script (in hex) or address that can be watched as if it were in your wallet but cannot be used to spend.\n',
)
def importaddress(ep: Endpoint, params: list[Any]) -> None:
    wallet = wallet_of(ep)
    text = expect(params[0], str, "address")
    label = expect(params[1], str, "label") if len(params) > 1 else ""
    if len(params) > 2:
        expect(params[2], bool, "rescan")
    p2sh = bool(expect(params[3], bool, "p2sh")) if len(params) > 3 else False
    try:
        script = address_to_script(text)
        if p2sh:
            raise ChainError(
                RPC_INVALID_ADDRESS_OR_KEY,
                "Cannot use the p2sh flag with an address - use a script instead",
            )
    except ValueError:
        if not is_hex(text):
            raise ChainError(
                RPC_INVALID_ADDRESS_OR_KEY, "Invalid Bitcoin address or script"
            ) from None
        script = bytes.fromhex(text)
    wallet.import_script(script, label, p2sh=p2sh)
    return None


@method(
    "dumpprivkey",
    1,
    0,
    "dumpprivkey \"address\"\n\nReveals the private key corresponding to 'address'.\n",
)
def dumpprivkey(ep: Endpoint, params: list[Any]) -> str:
    wallet = wallet_of(ep)
    text = expect(params[0], str, "address")
    try:
        script = address_to_script(text)
    except ValueError:
        raise ChainError(RPC_INVALID_ADDRESS_OR_KEY, "Invalid Bitcoin address") from None
    key = wallet.key_for(script[3:23]) if is_p2pkh(script) else None
    if key is None:
        raise ChainError(RPC_WALLET_ERROR, f"Private key for address {text} is not known")
    return encode_wif(key)


@method(
    "validateaddress",
    1,
    0,
    'validateaddress "address"\n\nReturn information about the given bitcoin address.\n',
)
def validateaddress(ep: Endpoint, params: list[Any]) -> dict[str, Any]:
    text = expect(params[0], str, "address")
    try:
        script = address_to_script(text)
    except ValueError:
        return {"isvalid": False}
    wallet = ep.wallet
    mine = wallet is not None and wallet.is_mine(script)
    out: dict[str, Any] = {
        "isvalid": True,
        "address": text,
        "scriptPubKey": script.hex(),
        "confidential_key": "",
        "unconfidential": text,
        "ismine": mine,
        "iswatchonly": bool(wallet and not mine and wallet.is_watched(script)),
        "isscript": is_p2sh(script),
    }
    if wallet is not None:
        if is_p2pkh(script) and mine:
            out["pubkey"] = wallet.pubkey_for(script[3:23]).hex()  # type: ignore[union-attr]
            out["iscompressed"] = True
        redeem = wallet.redeem_for(script)
        if redeem is not None:
            out["hex"] = redeem.hex()
        if mine or wallet.is_watched(script):
            out["account"] = wallet.label(script)
    return out


# -- balances ----------------------------------------------------------------------------
def _asset_key(ep: Endpoint, asset: bytes) -> str:
    return POLICY_LABEL if asset == ep.chain.policy_asset else asset_hex(asset)


@method(
    "getbalance",
    0,
    4,
    'getbalance ( "account" minconf include_watchonly "assetlabel" )\n\nReturns the server\'s total available balance per asset.\n',
)
def getbalance(ep: Endpoint, params: list[Any]) -> Any:
    wallet = wallet_of(ep)
    account = expect(params[0], str, "account") if params else "*"
    minconf = expect(params[1], int, "minconf") if len(params) > 1 else 1
    watch = bool(expect(params[2], bool, "include_watchonly")) if len(params) > 2 else False
    totals: dict[bytes, int] = {}
    for c in wallet_coins(ep, wallet):
        if c.confirmations < minconf or not (c.mine or watch) or immature(c):
            continue
        if account not in ("*", "") and wallet.label(c.coin.script) != account:
            continue
        totals[c.coin.asset] = totals.get(c.coin.asset, 0) + c.coin.value
    if len(params) > 3:
        asset = asset_arg(ep, params[3])
        return amount_json(totals.get(asset, 0))
    return {_asset_key(ep, a): amount_json(v) for a, v in sorted(totals.items())}


@method(
    "listunspent",
    0,
    5,
    'listunspent ( minconf maxconf  ["addresses",...] [include_unsafe] [asset] )\n\nReturns array of unspent transaction outputs\nwith between minconf and maxconf (inclusive) confirmations.\n',
)
def listunspent(ep: Endpoint, params: list[Any]) -> list[dict[str, Any]]:
    wallet = wallet_of(ep)
    minconf = expect(params[0], int, "minconf") if params else 1
    maxconf = expect(params[1], int, "maxconf") if len(params) > 1 else 9999999
    wanted: set[bytes] | None = None
    if len(params) > 2 and params[2]:
        wanted = set()
        for a in expect(params[2], list, "addresses"):
            text = expect(a, str, "address")
            try:
                script = address_to_script(text)
            except ValueError:
                raise ChainError(
                    RPC_INVALID_ADDRESS_OR_KEY, f"Invalid Bitcoin address: {text}"
                ) from None
            if script in wanted:
                raise ChainError(
                    RPC_INVALID_PARAMETER, f"Invalid parameter, duplicated address: {text}"
                )
            wanted.add(script)
    if len(params) > 3:
        expect(params[3], bool, "include_unsafe")
    asset_filter = asset_arg(ep, params[4]) if len(params) > 4 and params[4] != "" else None
    out = []
    for c in wallet_coins(ep, wallet):
        coin = c.coin
        if not minconf <= c.confirmations <= maxconf or immature(c):
            continue
        if wanted is not None and coin.script not in wanted:
            continue
        if asset_filter is not None and coin.asset != asset_filter:
            continue
        item: dict[str, Any] = {
            "txid": c.outpoint[0][::-1].hex(),
            "vout": c.outpoint[1],
            "address": _address(coin.script),
            "account": wallet.label(coin.script),
            "scriptPubKey": coin.script.hex(),
        }
        redeem = wallet.redeem_for(coin.script)
        if redeem is not None:
            item["redeemScript"] = redeem.hex()
        item["amount"] = amount_json(coin.value)
        item["asset"] = asset_hex(coin.asset)
        if coin.asset == ep.chain.policy_asset:
            item["assetlabel"] = POLICY_LABEL
        item.update(
            {
                "confirmations": c.confirmations,
                "spendable": c.mine,
                "solvable": c.mine or wallet.solvable(coin.script),
                "blinder": ZERO32,
                "assetblinder": ZERO32,
            }
        )
        out.append(item)
    return out


# -- sending -----------------------------------------------------------------------------
def _recipient(ep: Endpoint, address: Any, amount: Any, asset: bytes) -> TxOut:
    script = address_arg(address)
    value = amount_arg(amount)
    if value <= 0:
        raise ChainError(RPC_TYPE_ERROR, "Invalid amount for send")
    return TxOut(explicit_asset(asset), explicit_value(value), script)


@method(
    "sendtoaddress",
    2,
    5,
    'sendtoaddress "address" amount ( "comment" "comment_to" subtractfeefromamount "assetlabel" ignoreblindfail )\n\nSend an amount to a given address.\n',
)
def sendtoaddress(ep: Endpoint, params: list[Any]) -> str:
    asset = asset_arg(ep, params[5]) if len(params) > 5 else ep.chain.policy_asset
    if len(params) > 4 and params[4]:
        raise ChainError(RPC_INVALID_PARAMETER, "subtractfeefromamount is not supported")
    try:
        recipient = _recipient(ep, params[0], params[1], asset)
    except ChainError as exc:
        if exc.code == RPC_INVALID_ADDRESS_OR_KEY:  # the node names no address here
            raise ChainError(RPC_INVALID_ADDRESS_OR_KEY, "Invalid Bitcoin address") from None
        raise
    txid, _ = build_and_send(ep, [recipient])
    return txid


@method(
    "sendmany",
    2,
    4,
    'sendmany "fromaccount" {"address":amount,...} ( minconf "comment" ["address",...] {"address":"assetlabel",...} )\n\nSend multiple times. Amounts are double-precision floating point numbers.\n',
)
def sendmany(ep: Endpoint, params: list[Any]) -> str:
    account = expect(params[0], str, "fromaccount")
    amounts = expect(params[1], dict, "amounts")
    labels: dict[str, Any] = {}
    if len(params) > 5:
        labels = expect(params[5], dict, "assetlabels")
    if not amounts:
        raise ChainError(RPC_INVALID_PARAMETER, "Invalid parameter, empty amounts")
    outputs = []
    for address, amount in amounts.items():
        asset = asset_arg(ep, labels[address]) if address in labels else ep.chain.policy_asset
        outputs.append(_recipient(ep, address, amount, asset))
    txid, _ = build_and_send(ep, outputs, account=None if account == "*" else account)
    return txid


# -- assets ------------------------------------------------------------------------------
@method(
    "issueasset",
    2,
    1,
    "issueasset assetamount tokenamount ( blind )\n\nCreate an asset. Must have funds in wallet to do so. Returns asset hex id.\n",
)
def issueasset(ep: Endpoint, params: list[Any]) -> dict[str, Any]:
    wallet = wallet_of(ep)
    amount = amount_arg(params[0])
    token_amount = amount_arg(params[1])
    if len(params) > 2 and expect(params[2], bool, "blind"):
        raise ChainError(RPC_INVALID_PARAMETER, "Confidential issuance is not supported")
    if amount == 0 and token_amount == 0:
        raise ChainError(RPC_TYPE_ERROR, "Issuance must have one non-zero component")
    chain = ep.chain
    with chain.lock:
        funding = [
            c
            for c in wallet_coins(ep, wallet)
            if spendable(c) and c.coin.asset == chain.policy_asset
        ]
        if not funding:
            raise ChainError(RPC_WALLET_INSUFFICIENT_FUNDS, "Insufficient funds")
        first = max(funding, key=lambda c: c.coin.value)
        entropy = issuance_entropy(first.outpoint[0], first.outpoint[1], bytes(32))
        asset = issued_asset_id(entropy)
        token = reissuance_token_id(entropy, False)
        issuance = AssetIssuance(
            amount=explicit_value(amount) if amount else b"\x00",
            inflation_keys=explicit_value(token_amount) if token_amount else b"\x00",
        )
        outputs = []
        if amount:
            outputs.append(TxOut(explicit_asset(asset), explicit_value(amount), wallet.new_key()))
        if token_amount:
            outputs.append(
                TxOut(explicit_asset(token), explicit_value(token_amount), wallet.new_key())
            )
        minted = {asset: amount, token: token_amount}
        txid, vin = build_and_send(ep, outputs, fixed=[(first, issuance)], minted=minted)
    return {
        "txid": txid,
        "vin": vin,
        "entropy": entropy[::-1].hex(),
        "asset": asset_hex(asset),
        "token": asset_hex(token),
    }


@method(
    "reissueasset",
    2,
    0,
    "reissueasset asset assetamount\n\nCreate more of an already issued asset. Must have reissuance token in wallet to do so.\n",
)
def reissueasset(ep: Endpoint, params: list[Any]) -> dict[str, Any]:
    wallet = wallet_of(ep)
    asset = asset_arg(ep, params[0])
    amount = amount_arg(params[1])
    if amount <= 0:
        raise ChainError(RPC_TYPE_ERROR, "Reissuance must create a non-zero amount.")
    chain = ep.chain
    with chain.lock:
        known = chain.state.asset_entropy.get(asset)
        if known is None:
            known = next(
                ((i.entropy, i.token) for i in chain.state.issuances if i.asset == asset), None
            )
        token_coin = None
        if known is not None:
            token_coin = next(
                (
                    c
                    for c in wallet_coins(ep, wallet)
                    if c.mine and c.coin.asset == known[1] and c.coin.value > 0
                ),
                None,
            )
        if known is None or token_coin is None:
            raise ChainError(RPC_WALLET_ERROR, "No available reissuance tokens in wallet.")
        entropy, token = known
        issuance = AssetIssuance(
            blinding_nonce=b"\xff" * 32, entropy=entropy, amount=explicit_value(amount)
        )
        outputs = [
            TxOut(explicit_asset(asset), explicit_value(amount), wallet.new_key()),
            TxOut(explicit_asset(token), explicit_value(token_coin.coin.value), wallet.new_key()),
        ]
        txid, vin = build_and_send(
            ep, outputs, fixed=[(token_coin, issuance)], minted={asset: amount}
        )
    return {"txid": txid, "vin": vin}


@method(
    "listissuances",
    0,
    1,
    "listissuances ( asset )\n\nList all issuances known to the wallet for the given asset, or for all issued assets if none provided.\n",
)
def listissuances(ep: Endpoint, params: list[Any]) -> list[dict[str, Any]]:
    wallet = wallet_of(ep)
    chain = ep.chain
    only = asset_arg(ep, params[0]) if params else None
    with chain.lock:
        scripts = wallet.scripts()
        relevant = []
        for i in chain.state.issuances:
            if only is not None and i.asset != only:
                continue
            found = chain.find_tx(i.txid)
            if found is None or not any(o.script_pubkey in scripts for o in found[0].vout):
                continue
            relevant.append(i)
    relevant.sort(key=lambda i: i.txid)
    out = []
    for i in relevant:
        item: dict[str, Any] = {"isreissuance": i.is_reissuance}
        if not i.is_reissuance:
            item["token"] = asset_hex(i.token)
            item["tokenamount"] = amount_json(i.token_amount)
            item["tokenblinds"] = ZERO32
        item.update({"entropy": i.entropy[::-1].hex(), "txid": i.txid[::-1].hex(), "vin": i.vin})
        item["asset"] = asset_hex(i.asset)
        if i.asset == chain.policy_asset:
            item["assetlabel"] = POLICY_LABEL
        item["assetamount"] = amount_json(i.asset_amount)
        item["assetblinds"] = ZERO32
        out.append(item)
    return out
