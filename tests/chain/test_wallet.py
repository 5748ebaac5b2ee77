"""Wallet, mempool and asset RPCs on a fresh devnet with two funded clients."""

from __future__ import annotations

import pytest

from oceanfed.ocean.address import address_to_script, script_to_address
from oceanfed.ocean.tx import Transaction, TxIn, TxOut, explicit_asset, explicit_value
from oceanfed_devnet.chain import ChainError


def test_issue_send_reissue_and_mine(net) -> None:
    assert net.call("c0", "getbalance") == {"CBT": 10500000.0}
    assert net.call("m0", "getbalance") == {}
    issued = net.call("c0", "issueasset", 1000, 1)
    to = net.call("c1", "getnewaddress")
    txid = net.call("c0", "sendtoaddress", to, 12.5)
    assert net.call("c0", "getrawmempool") == [issued["txid"], txid]
    block = net.mine()
    assert [t.txid_hex() for t in block.txs[1:]] == [issued["txid"], txid]
    assert net.call("c0", "getrawmempool") == []
    assert net.call("c1", "getbalance") == {"CBT": 10500012.5}
    # The asset and token ids derive from the issuing input as the node derives them.
    decoded = net.call("c0", "getrawtransaction", issued["txid"], True)
    iss = decoded["vin"][issued["vin"]]["issuance"]
    assert (iss["asset"], iss["token"], iss["assetEntropy"]) == (
        issued["asset"],
        issued["token"],
        issued["entropy"],
    )
    net.call("c0", "sendtoaddress", to, 3, "", "", False, issued["asset"])
    re = net.call("c0", "reissueasset", issued["asset"], 50)
    net.mine()
    assert net.call("c1", "getbalance")[issued["asset"]] == 3.0
    assert net.call("c0", "getbalance")[issued["asset"]] == 1047.0
    info = {i["asset"]: i for i in net.call("m0", "getutxoassetinfo")}[issued["asset"]]
    assert (info["amountspendable"], info["entropy"], info["token"]) == (
        1050.0,
        issued["entropy"],
        issued["token"],
    )
    kinds = [
        (i["txid"], i["isreissuance"]) for i in net.call("c0", "listissuances", issued["asset"])
    ]
    assert sorted(kinds) == sorted([(issued["txid"], False), (re["txid"], True)])
    assets = net.call("c0", "listunspent", 1, 9999999, [], True, issued["asset"])
    assert sum(u["amount"] for u in assets) == 1047.0
    assert all(u["asset"] == issued["asset"] and u["spendable"] for u in assets)


def test_rejected_transactions_leave_everything_untouched(net) -> None:
    to = net.call("c1", "getnewaddress")
    txid = net.call("c0", "sendtoaddress", to, 1)
    tx = Transaction.from_hex(net.call("c0", "getrawtransaction", txid))
    coins, mempool = dict(net.chain.state.coins), list(net.chain.mempool.entries)
    balance = net.call("c0", "getbalance", "*", 0)
    with pytest.raises(ChainError) as info:  # a second spend of the same inputs
        net.call("c0", "sendrawtransaction", Transaction(2, tx.vin, tx.vout[1:], 0).hex())
    assert (info.value.code, info.value.message) == (-26, "18: txn-mempool-conflict")
    for bad in ("zz", "00", ""):
        with pytest.raises(ChainError) as info:
            net.call("c0", "sendrawtransaction", bad)
        assert (info.value.code, info.value.message) == (-22, "TX decode failed")
    with pytest.raises(ChainError) as info:
        net.call("c0", "sendrawtransaction")
    assert info.value.code == -1 and info.value.message.startswith("sendrawtransaction ")
    with pytest.raises(ChainError) as info:
        net.call("c0", "sendtoaddress", to, 10**9)
    assert info.value.code == -3
    with pytest.raises(ChainError) as info:
        net.call("c0", "sendtoaddress", to, 20_000_000)
    assert (info.value.code, info.value.message) == (-6, "Insufficient funds")
    with pytest.raises(ChainError) as info:
        net.call("c0", "sendtoaddress", "2dnotanaddress", 1)
    assert info.value.code == -5
    assert net.chain.state.coins == coins and list(net.chain.mempool.entries) == mempool
    assert net.call("c0", "getbalance", "*", 0) == balance
    net.mine()
    with pytest.raises(ChainError) as info:
        net.call("c0", "sendrawtransaction", tx.hex())
    assert (info.value.code, info.value.message) == (-27, "transaction already in block chain")


def test_keys_addresses_and_wallet_persistence(net) -> None:
    address = net.call("c0", "getnewaddress", "savings")
    wif = net.call("c0", "dumpprivkey", address)
    info = net.call("c0", "validateaddress", address)
    assert info["ismine"] and info["account"] == "savings"
    assert net.call("c1", "validateaddress", address)["ismine"] is False
    assert net.call("c1", "importprivkey", wif, "copy", False) is None
    assert net.call("c1", "validateaddress", address)["ismine"] is True
    with pytest.raises(ChainError) as err:
        net.call("c1", "importprivkey", "notakey")
    assert (err.value.code, err.value.message) == (-5, "Invalid private key encoding")
    with pytest.raises(ChainError) as err:
        net.call("m0", "dumpprivkey", address)
    assert err.value.code == -4
    # A new Wallet object on the same file knows the key (written atomically, 0600).
    from oceanfed_devnet.wallet import Wallet

    path = net.layout.wallet_file("c1")
    assert path.stat().st_mode & 0o777 == 0o600
    again = Wallet(path)
    assert again.is_mine(address_to_script(address))
    assert "key" not in repr(again).lower().replace("keys", "")


def test_freeze_output_freezes_the_p2pkh_outputs(net) -> None:
    freeze = script_to_address(b"\x76\xa9\x14" + bytes(20) + b"\x88\xac")
    to = net.call("c1", "getnewaddress")
    txid = net.call("c0", "sendmany", "", {freeze: 0.001, to: 10})
    net.mine()
    history = net.call("m0", "getfreezehistory")
    assert {(h["txid"], h["value"], h["start"], h["end"]) for h in history} >= {(txid, 10.0, 1, 0)}
    assert all(h["txid"] == txid for h in history) and len(history) == 2  # to + change
    policy = next(i for i in net.call("m0", "getutxoassetinfo") if i["entropy"] == "null")
    assert policy["frozentxouts"] == 3
    # Spending a frozen output ends its history entry at that block's height.
    frozen = net.call("c1", "listunspent", 1, 9999999, [to])[0]
    asset = bytes.fromhex(frozen["asset"])[::-1]
    spend = TxIn(bytes.fromhex(txid)[::-1], frozen["vout"], b"", 0xFFFFFFFF)
    outs = (
        TxOut(explicit_asset(asset), explicit_value(999_990_000), address_to_script(to)),
        TxOut(explicit_asset(asset), explicit_value(10_000), b""),
    )
    signed = net.call("c1", "signrawtransaction", Transaction(2, (spend,), outs, 0).hex())
    assert signed["complete"]
    net.call("c1", "sendrawtransaction", signed["hex"])
    net.mine()
    ended = [
        (h["txid"], h["vout"], h["end"]) for h in net.call("m0", "getfreezehistory") if h["end"]
    ]
    assert ended == [(txid, frozen["vout"], 2)]


def test_coinbase_output_matures_after_two_blocks(op_true_net) -> None:
    """Ocean's COINBASE_MATURITY is 2: a coinbase output is refused one block deep, in the
    mempool and in a block, and spendable one block later (tests/realnode shows the node
    answering alike)."""
    from oceanfed.ocean.block import Block
    from oceanfed.ocean.coinbase import finish_block

    net = op_true_net
    net.call("c0", "sendtoaddress", net.call("m1", "getnewaddress"), 3)
    coinbase = net.mine().txs[0]
    [(n, out)] = [(n, o) for n, o in enumerate(coinbase.vout)
                  if o.script_pubkey == b"\x51" and o.amount]
    spend = Transaction(2, (TxIn(coinbase.txid(), n, b"", 0xFFFFFFFF),), (
        TxOut(out.asset, explicit_value(out.amount),
              address_to_script(net.call("c0", "getnewaddress"))),), 0)
    with pytest.raises(ChainError) as err:
        net.call("c0", "sendrawtransaction", spend.hex())
    assert (err.value.code, err.value.message) == (
        -26, "16: bad-txns-premature-spend-of-coinbase")
    proposal = Block.from_hex(net.call("m0", "getnewblockhex"))
    block = finish_block(proposal.header, [*proposal.txs, spend])
    with pytest.raises(ChainError) as err:
        net.call("m0", "testproposedblock", block.block_hex())
    assert err.value.message == "bad-txns-premature-spend-of-coinbase"
    net.mine()
    txid = net.call("c0", "sendrawtransaction", spend.hex())
    assert [t.txid_hex() for t in net.mine().txs[1:]] == [txid]


def test_wallet_waits_for_coinbase_maturity(tmp_path, make_net) -> None:
    """A coinbase output paid to a wallet's key counts (getbalance, listunspent, funding)
    from its third confirmation only, as with the node's wallet (COINBASE_MATURITY + 1)."""
    from oceanfed.crypto import pubkey_of
    from oceanfed.keyfile import generate_private_key, read_private_key
    from oceanfed.ocean.address import p2pkh_of_pubkey
    from oceanfed_devnet.setup import create_devnet

    keys = [generate_private_key() for _ in range(3)]
    layout = create_devnet(tmp_path / "dn", members=3, threshold=2, clients=1, block_keys=keys,
                           coinbase_destination=p2pkh_of_pubkey(pubkey_of(keys[0])))
    owner = next(m for m in layout.members
                 if read_private_key(layout.block_key_file(m)) == keys[0])
    net = make_net(layout)
    net.call("c0", "sendtoaddress", net.call("c0", "getnewaddress"), 1)
    net.mine()  # the fee goes to the owner's key: one confirmation
    assert net.call(owner, "getbalance") == {}
    assert net.call(owner, "listunspent") == []
    with pytest.raises(ChainError) as err:
        net.call(owner, "sendtoaddress", net.call("c0", "getnewaddress"), 0.0001)
    assert err.value.code == -6
    net.mine()
    assert net.call(owner, "listunspent") == []  # two
    net.mine()
    [coin] = net.call(owner, "listunspent")  # three: mature
    assert net.call(owner, "getbalance") == {"CBT": coin["amount"]} and coin["amount"] > 0
