"""JSON-RPC methods for raw transactions and assets (no wallet needed):
``decoderawtransaction``, ``decodescript``, ``getrawtransaction``, ``sendrawtransaction``,
``getrawmempool``, ``createrawreissuance``, ``signrawtransaction``, ``getutxoassetinfo``,
``getfreezehistory``."""

from __future__ import annotations

from typing import Any

from oceanfed.errors import DecodeError
from oceanfed.ocean.address import decode_wif, is_p2sh
from oceanfed.ocean.assets import issued_asset_id, reissuance_token_id
from oceanfed.ocean.encoding import hash160
from oceanfed.ocean.proof import is_hex
from oceanfed.ocean.standard import decodescript_json
from oceanfed.ocean.tx import (
    AssetIssuance,
    Transaction,
    TxIn,
    TxOut,
    explicit_asset,
    explicit_value,
)
from oceanfed_devnet.chain import (
    RPC_DESERIALIZATION_ERROR,
    RPC_INVALID_ADDRESS_OR_KEY,
    RPC_INVALID_PARAMETER,
    ChainError,
)
from oceanfed_devnet.rpc_registry import (
    RPC_TYPE_ERROR,
    Endpoint,
    address_arg,
    amount_arg,
    expect,
    method,
    parse_hash,
    submit_tx,
    type_name,
)
from oceanfed_devnet.signing import sign_transaction
from oceanfed_devnet.txjson import amount_json, asset_hex, tx_json

#: the blinding nonce ``createrawreissuance`` puts on an unblinded reissuance
UNBLINDED_REISSUANCE_NONCE = b"\xff" * 32


def decode_tx(value: Any) -> Transaction:
    """A transaction from hex, or the node's -22 "TX decode failed"."""
    if not is_hex(value):
        raise ChainError(RPC_DESERIALIZATION_ERROR, "TX decode failed")
    try:
        return Transaction.from_hex(value)
    except (DecodeError, ValueError):
        raise ChainError(RPC_DESERIALIZATION_ERROR, "TX decode failed") from None


# -- decoding ----------------------------------------------------------------------------
@method(
    "decoderawtransaction",
    1,
    0,
    'decoderawtransaction "hexstring"\n\nReturn a JSON object representing the serialized, hex-encoded transaction.\n\nArguments:\n1. "hexstring"      (string, required) The transaction hex string\n',
)
def decoderawtransaction(ep: Endpoint, params: list[Any]) -> dict[str, Any]:
    expect(params[0], str, "hexstring")
    return tx_json(decode_tx(params[0]), ep.chain.policy_asset)


@method(
    "decodescript",
    1,
    0,
    'decodescript "hexstring"\n\nDecode a hex-encoded script.\n\nArguments:\n1. "hexstring"     (string) the hex encoded script\n',
)
def decodescript(ep: Endpoint, params: list[Any]) -> dict[str, Any]:
    text = expect(params[0], str, "hexstring")
    if text and not is_hex(text):
        raise ChainError(
            RPC_INVALID_PARAMETER, f"argument must be hexadecimal string (not '{text}')"
        )
    return decodescript_json(bytes.fromhex(text))


@method(
    "getrawtransaction",
    1,
    1,
    'getrawtransaction "txid" ( verbose )\n\nNOTE: By default this function only works for mempool transactions. If the -txindex option is\nenabled, it also works for blockchain transactions.\n\nArguments:\n1. "txid"      (string, required) The transaction id\n2. verbose       (bool, optional, default=false) If false, return a string, otherwise return a json object\n',
)
def getrawtransaction(ep: Endpoint, params: list[Any]) -> Any:
    txid = parse_hash(params[0], "parameter 1")
    verbose = False
    if len(params) > 1:
        v = params[1]
        if isinstance(v, bool | int):
            verbose = bool(v)
        else:
            raise ChainError(
                RPC_TYPE_ERROR,
                "Invalid type provided. Verbose parameter must be a boolean.",
            )
    found = ep.chain.find_tx(txid)
    if found is None:
        raise ChainError(RPC_INVALID_ADDRESS_OR_KEY, "No such mempool or blockchain transaction")
    tx, entry = found
    if not verbose:
        return tx.hex()
    out = {"hex": tx.hex(), **tx_json(tx, ep.chain.policy_asset)}
    if entry is not None:
        out.update(
            {
                "blockhash": entry.header.hash_hex(),
                "confirmations": ep.chain.height - entry.height + 1,
                "time": entry.header.time,
                "blocktime": entry.header.time,
            }
        )
    return out


@method(
    "getrawmempool",
    0,
    1,
    "getrawmempool ( verbose )\n\nReturns all transaction ids in memory pool as a json array of string transaction ids.\n",
)
def getrawmempool(ep: Endpoint, params: list[Any]) -> list[str]:
    with ep.chain.lock:
        return [txid[::-1].hex() for txid in ep.chain.mempool.entries]


@method(
    "sendrawtransaction",
    1,
    1,
    'sendrawtransaction "hexstring" ( allowhighfees )\n\nSubmits raw transaction (serialized, hex-encoded) to local node and network.\n\nArguments:\n1. "hexstring"    (string, required) The hex string of the raw transaction)\n2. allowhighfees    (boolean, optional, default=false) Allow high fees\n',
)
def sendrawtransaction(ep: Endpoint, params: list[Any]) -> str:
    expect(params[0], str, "hexstring")
    return submit_tx(ep, decode_tx(params[0]))


# -- assets ------------------------------------------------------------------------------
@method(
    "createrawreissuance",
    7,
    0,
    'createrawreissuance "address" amount "tokenaddress" tokenamount "txid" "vout" "entropy"\n\nCreate an unsigned raw transaction that reissues an asset, spending the reissuance token output txid:vout.\n\nResult:\n{\n  "hex": "value",     (string) The raw transaction\n  "asset": "value",   (string) The asset reissued\n  "token": "value"    (string) The reissuance token\n}\n',
)
def createrawreissuance(ep: Endpoint, params: list[Any]) -> dict[str, Any]:
    script = address_arg(params[0])
    amount = amount_arg(params[1])
    token_script = address_arg(params[2])
    token_amount = amount_arg(params[3])
    txid = parse_hash(params[4], "txid")
    vout_text = params[5]
    if isinstance(vout_text, int) and not isinstance(vout_text, bool):
        vout = vout_text
    else:
        text = expect(vout_text, str, "vout")
        if not text.isdigit():
            raise ChainError(RPC_INVALID_PARAMETER, "Invalid parameter, vout must be a number")
        vout = int(text)
    entropy = parse_hash(params[6], "entropy")
    asset = issued_asset_id(entropy)
    token = reissuance_token_id(entropy, False)
    issuance = AssetIssuance(
        blinding_nonce=UNBLINDED_REISSUANCE_NONCE, entropy=entropy, amount=explicit_value(amount)
    )
    tx = Transaction(
        2,
        (TxIn(txid, vout, b"", 0xFFFFFFFF, issuance=issuance),),
        (
            TxOut(explicit_asset(asset), explicit_value(amount), script),
            TxOut(explicit_asset(token), explicit_value(token_amount), token_script),
        ),
        0,
    )
    return {"hex": tx.hex(), "asset": asset_hex(asset), "token": asset_hex(token)}


@method(
    "getutxoassetinfo",
    0,
    0,
    'getassetstats\n\nReturns an array of objects containing statistics of each asset in the UTXO set.\n\nResult:\n[\n   {\n       "asset": "xxxx",          (string) the asset id\n       "spendabletxouts": xx,    (numeric) the number of spendable outputs\n       "amountspendable": xx,    (numeric) the spendable amount\n       "frozentxouts": xx,       (numeric) the number of frozen outputs\n       "amountfrozen": xx,       (numeric) the frozen amount\n       "entropy": "xxxx",        (string) the issuance entropy\n       "token": "xxxx"           (string) the reissuance token\n   }\n]\n',
)
def getutxoassetinfo(ep: Endpoint, params: list[Any]) -> list[dict[str, Any]]:
    state = ep.chain.state
    out = []
    with ep.chain.lock:
        for asset in sorted(state.totals):
            n, amount, fn, famount = state.totals[asset]
            known = state.asset_entropy.get(asset)
            out.append(
                {
                    "asset": asset_hex(asset),
                    "spendabletxouts": n,
                    "amountspendable": amount_json(amount),
                    "frozentxouts": fn,
                    "amountfrozen": amount_json(famount),
                    "entropy": known[0][::-1].hex() if known else "null",
                    "token": asset_hex(known[1]) if known else "null",
                }
            )
    return out


FREEZE_HELP = (
    "getfreezehistory height\nReturns an array conatining the history of frozen (redemption) transactions\n"
    "It returns all outputs that have been unfrozen in the last height blocks\n"
    "If height is zero it returns all frozen outputs\n\nResult:\n[\n   {\n"
    '       "txid": "xxxx",        (string) transaction ID of the redemption transaction\n'
    '       "blocks": xxxxxx,         (numeric) the current number of blocks processed in the server\n'
    "   }\n]\n\nExamples:\n> ocean-cli getblockchaininfo 0\n"
    '> curl --user myusername --data-binary \'{"jsonrpc": "1.0", "id":"curltest", "method": '
    '"getblockchaininfo", "params": [0] }\' -H \'content-type: text/plain;\' http://127.0.0.1:9041/\n'
)


@method("getfreezehistory", 0, 0, FREEZE_HELP)
def getfreezehistory(ep: Endpoint, params: list[Any]) -> list[dict[str, Any]]:
    with ep.chain.lock:
        return [
            {
                "txid": e.txid[::-1].hex(),
                "vout": e.vout,
                "asset": asset_hex(e.asset),
                "value": amount_json(e.value),
                "start": e.start,
                "end": e.end,
            }
            for e in ep.chain.state.freeze.values()
        ]


# -- signing -----------------------------------------------------------------------------
SIGHASH_TYPES = {
    "ALL": 1,
    "NONE": 2,
    "SINGLE": 3,
    "ALL|ANYONECANPAY": 0x81,
    "NONE|ANYONECANPAY": 0x82,
    "SINGLE|ANYONECANPAY": 0x83,
}


@method(
    "signrawtransaction",
    1,
    3,
    'signrawtransaction "hexstring" ( [{"txid":"id","vout":n,"scriptPubKey":"hex","redeemScript":"hex"},...] ["privatekey1",...] sighashtype )\n\nSign inputs for raw transaction (serialized, hex-encoded).\n',
)
def signrawtransaction(ep: Endpoint, params: list[Any]) -> dict[str, Any]:
    expect(params[0], str, "hexstring")
    tx = decode_tx(params[0])
    chain = ep.chain
    given: dict[tuple[bytes, int], bytes] = {}
    redeems: dict[bytes, bytes] = {}
    if len(params) > 1 and params[1] is not None:
        for prev in expect(params[1], list, "prevtxs"):
            if not isinstance(prev, dict):
                raise ChainError(RPC_TYPE_ERROR, f"Expected type object, got {type_name(prev)}")
            for field in ("txid", "vout", "scriptPubKey"):
                if field not in prev:
                    raise ChainError(RPC_TYPE_ERROR, f"Missing {field}")
            txid = parse_hash(prev["txid"], "txid")
            vout = expect(prev["vout"], int, "vout")
            if vout < 0:
                raise ChainError(RPC_INVALID_PARAMETER, "vout must be positive")
            spk = prev["scriptPubKey"]
            if not is_hex(spk):
                raise ChainError(
                    RPC_INVALID_PARAMETER, f"scriptPubKey must be hexadecimal string (not '{spk}')"
                )
            script = bytes.fromhex(spk)
            given[(txid, vout)] = script
            if "redeemScript" in prev and is_p2sh(script):
                rs = prev["redeemScript"]
                if not is_hex(rs):
                    raise ChainError(
                        RPC_INVALID_PARAMETER,
                        f"redeemScript must be hexadecimal string (not '{rs}')",
                    )
                redeems[hash160(bytes.fromhex(rs))] = bytes.fromhex(rs)
    keys: dict[bytes, bytes] = {}
    if len(params) > 2 and params[2] is not None:
        for wif in expect(params[2], list, "privkeys"):
            try:
                key = decode_wif(expect(wif, str, "privkey"))
            except ValueError:
                raise ChainError(RPC_INVALID_ADDRESS_OR_KEY, "Invalid private key") from None
            from oceanfed.crypto import pubkey_of

            keys[hash160(pubkey_of(key))] = key
    elif ep.wallet is not None:
        keys = dict(ep.wallet.keys)
    hashtype = 1
    if len(params) > 3:
        name = expect(params[3], str, "sighashtype")
        if name not in SIGHASH_TYPES:
            raise ChainError(RPC_INVALID_PARAMETER, "Invalid sighash param")
        hashtype = SIGHASH_TYPES[name]
    prevouts: dict[int, bytes] = {}
    with chain.lock:
        for i, txin in enumerate(tx.vin):
            op = (txin.prev_txid, txin.prev_index)
            coin = chain.mempool.lookup(chain.state, op)
            if op in given:
                prevouts[i] = given[op]
            elif coin is not None:
                prevouts[i] = coin.script

    def redeem_for(script: bytes) -> bytes | None:
        found = redeems.get(script[2:22])
        if found is None and ep.wallet is not None:
            found = ep.wallet.redeem_for(script)
        return found

    signed, errors = sign_transaction(tx, prevouts, keys, redeem_for, hashtype)
    out: dict[str, Any] = {"hex": signed.hex(), "complete": not errors}
    if errors:
        out["errors"] = [
            {
                "txid": signed.vin[i].prev_txid[::-1].hex(),
                "vout": signed.vin[i].prev_index,
                "scriptSig": signed.vin[i].script_sig.hex(),
                "sequence": signed.vin[i].sequence,
                "error": message,
            }
            for i, message in errors
        ]
    return out
