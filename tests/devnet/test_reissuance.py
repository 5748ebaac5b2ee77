"""Inflation's reissuance path end to end over HTTP against a served devnet: a token held
at a 2-of-3 P2SH address is reissued via createrawreissuance, one signrawtransaction per
member, a combined scriptSig and sendrawtransaction, then mined by the federation's RPCs."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from oceanfed.crypto import pubkey_of
from oceanfed.keyfile import generate_private_key
from oceanfed.ocean.address import encode_wif
from oceanfed.ocean.block import Block
from oceanfed.ocean.encoding import push_data
from oceanfed.ocean.script import iter_ops, multisig_script
from oceanfed.ocean.tx import Transaction


def _mine(dn: Any) -> None:
    clients = dn.clients()
    proposal = clients[0].call("getnewblockhex")
    sigs = [c.call("signblock", proposal) for c in clients[:2]]
    combined = clients[0].call("combineblocksigs", proposal, sigs)
    assert combined["complete"]
    assert clients[0].call("submitblock", combined["hex"]) is None


def test_p2sh_multisig_reissuance(devnet_2of3) -> None:
    dn = devnet_2of3
    m = dn.clients()
    keys = [generate_private_key() for _ in range(3)]
    redeem = multisig_script(2, [pubkey_of(k) for k in keys])
    p2sh = m[0].call("decodescript", redeem.hex())["p2sh"]
    issued = m[0].call("issueasset", 500, 10000)
    m[0].call("sendtoaddress", p2sh, 10000, "", "", False, issued["token"])
    _mine(dn)
    # Each member, as the inflation plugin starts: import its key and the P2SH address.
    for client, key in zip(m, keys, strict=True):
        assert client.call("importprivkey", encode_wif(key), "reissuance", False) is None
        assert client.call("importaddress", p2sh, "reissuance", False) is None
    tokens = [u for u in m[1].call("listunspent", 1, 9999999, [p2sh]) if u["amount"] > 9999]
    assert len(tokens) == 1 and tokens[0]["asset"] == issued["token"]
    token = tokens[0]
    info = next(i for i in m[1].call("getutxoassetinfo") if i["token"] == token["asset"])
    assert (info["asset"], info["entropy"], info["amountspendable"]) == (
        issued["asset"],
        issued["entropy"],
        500.0,
    )
    target = m[2].call("getnewaddress")
    raw = m[0].call(
        "createrawreissuance",
        target,
        f"{25.5:.8f}",
        p2sh,
        token["amount"],
        token["txid"],
        str(token["vout"]),
        info["entropy"],
    )
    assert raw["asset"] == issued["asset"] and raw["token"] == issued["token"]
    prevtx = [
        {
            "txid": token["txid"],
            "vout": token["vout"],
            "scriptPubKey": token["scriptPubKey"],
            "redeemScript": redeem.hex(),
        }
    ]
    sigs = []
    for client, key in zip(m, keys, strict=True):
        partial = client.call("signrawtransaction", raw["hex"], prevtx, [encode_wif(key)])
        assert partial["complete"] is False
        script_sig = Transaction.from_hex(partial["hex"]).vin[0].script_sig
        pushes = [d for _, d in iter_ops(script_sig)]
        assert pushes[0] == b"" and pushes[-1] == redeem
        sigs.append(next(p for p in pushes[1:-1] if p))
    # Combine the first two in key order, as the members do.
    tx = Transaction.from_hex(raw["hex"])
    script_sig = (
        b"\x00" + push_data(sigs[0]) + push_data(sigs[1]) + b"\x4c" + bytes([len(redeem)]) + redeem
    )
    final = replace(tx, vin=(replace(tx.vin[0], script_sig=script_sig),))
    txid = m[1].call("sendrawtransaction", final.hex())
    assert txid == final.txid_hex()
    proposal = Block.from_hex(m[0].call("getnewblockhex"))
    assert txid in [t.txid_hex() for t in proposal.txs]
    _mine(dn)
    info = next(i for i in m[2].call("getutxoassetinfo") if i["asset"] == issued["asset"])
    assert info["amountspendable"] == 525.5
    assert m[2].call("getbalance")[issued["asset"]] == 25.5
    # The token is back at the P2SH address, and the old one is spent.
    again = m[1].call("listunspent", 1, 9999999, [p2sh])
    assert [(u["txid"], u["amount"]) for u in again] == [(txid, 10000.0)]
