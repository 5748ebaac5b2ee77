"""The 20 vector blocks replayed into a devnet on the vectors' genesis: accepted, and the
UTXO set, asset totals, freeze history and decoded transactions as the real node gave."""

from __future__ import annotations

import json

import pytest

from oceanfed_devnet.chain import ChainError


def _results(transcripts, name: str, method: str) -> list[dict]:
    return [c for c in transcripts[name] if c["request"]["method"] == method]


#: height after which each transcript's last getutxoassetinfo was taken
ASSET_SNAPSHOTS = {
    14: "30_asset_basics.json",
    15: "31_issueasset.json",
    16: "32_reissueasset.json",
    17: "33_createrawreissuance.json",
    18: "35_freeze_retry.json",
}


def test_replay_matches_asset_transcripts(vector_net, vector_chain, transcripts) -> None:
    net = vector_net
    for height, block_hex in enumerate(vector_chain[1:], start=1):
        assert net.call("m0", "submitblock", block_hex) is None, height
        name = ASSET_SNAPSHOTS.get(height)
        if name:
            expected = _results(transcripts, name, "getutxoassetinfo")[-1]["response"]["result"]
            assert net.call("m0", "getutxoassetinfo") == expected, height
    assert net.chain.height == 19
    freeze = _results(transcripts, "35_freeze_retry.json", "getfreezehistory")[-1]
    assert net.call("m0", "getfreezehistory") == freeze["response"]["result"]
    # Raw transactions as the node decoded them (confirmations move with the tip).
    for name in ("31_issueasset.json", "35_freeze_retry.json"):
        for call in _results(transcripts, name, "getrawtransaction"):
            ours = net.call("m0", "getrawtransaction", *call["request"]["params"])
            theirs = dict(call["response"]["result"])
            assert ours.pop("confirmations") == 19 - (18 if "35" in name else 15) + 1
            theirs.pop("confirmations")
            assert ours == theirs
    # The UTXO set survives a reopen unchanged (read back from the store, not replayed).
    before = net.call("m0", "getutxoassetinfo")
    coins = dict(net.chain.state.coins)
    net.chain.store.close()
    from oceanfed_devnet.setup import open_chain

    reopened = open_chain(net.layout)
    try:
        assert reopened.state.coins == coins
        assert reopened.store.get_meta("state_tip") == reopened.tip().hash.hex()
    finally:
        reopened.store.close()
    net.chain = reopened
    for ep in net.eps.values():
        ep.chain = reopened
    assert net.call("m0", "getutxoassetinfo") == before


def test_stateless_calls_match_transcripts(vector_net, vector_chain, transcripts) -> None:
    net = vector_net
    for block_hex in vector_chain[1:17]:
        assert net.call("m0", "submitblock", block_hex) is None
    compared = 0
    for name in ("30_asset_basics.json", "33_createrawreissuance.json"):
        for call in transcripts[name]:
            method, params = call["request"]["method"], call["request"]["params"]
            if method in ("decodescript", "decoderawtransaction", "createrawreissuance"):
                assert net.call("m0", method, *params) == call["response"]["result"], method
                compared += 1
    assert compared == 3
    # The recorded createrawreissuance, signed by the wallet holding the token's key, is
    # the transaction the node signed (RFC 6979 makes it byte-identical) and is accepted.
    sign = _results(transcripts, "33_createrawreissuance.json", "signrawtransaction")[0]
    raw = sign["request"]["params"][0]
    assert net.call("m0", "signrawtransaction", raw)["complete"] is False
    send = _results(transcripts, "33_createrawreissuance.json", "sendrawtransaction")[0]
    with pytest.raises(ChainError) as info:
        net.call("m0", "sendrawtransaction", raw)
    assert info.value.code == -26 and "mandatory-script-verify-flag-failed" in info.value.message
    assert (
        net.call("m0", "sendrawtransaction", *send["request"]["params"])
        == send["response"]["result"]
    )
    assert net.call("m0", "getrawmempool") == [send["response"]["result"]]
    # Its block, as mined by the real node, is accepted with it in the mempool, and
    # the mempool empties.
    assert net.call("m0", "submitblock", vector_chain[17]) is None
    assert net.call("m0", "getrawmempool") == []


def test_validateaddress_and_watch_only(vector_net, transcripts) -> None:
    net = vector_net
    calls = transcripts["30_asset_basics.json"]
    validate = next(c for c in calls if c["request"]["method"] == "validateaddress")
    address = validate["request"]["params"][0]
    net.call("m0", "importaddress", address, "watch-key2", False)
    ours = net.call("m0", "validateaddress", address)
    theirs = validate["response"]["result"]
    for key in (
        "isvalid",
        "address",
        "scriptPubKey",
        "ismine",
        "iswatchonly",
        "isscript",
        "account",
    ):
        assert ours[key] == theirs[key], key
    assert net.call("m0", "validateaddress", "2dnotanaddress") == {"isvalid": False}


def test_initial_free_coins_and_listunspent(vector_net, transcripts) -> None:
    net = vector_net
    imported = transcripts["02_importprivkey.json"][0]
    assert net.call("m0", *[imported["request"]["method"], *imported["request"]["params"]]) is None
    listed = next(
        c for c in transcripts["02_importprivkey.json"] if c["request"]["method"] == "listunspent"
    )
    ours = net.call("m0", "listunspent", *listed["request"]["params"])
    theirs = listed["response"]["result"]
    assert len(ours) == len(theirs) == 100
    for a, b in zip(ours, theirs, strict=True):
        b = {**b, "confirmations": 1}  # the node had mined 0 blocks on top
        assert a == b, json.dumps([a, b])
    assert net.call("m0", "getbalance") == {"CBT": 21000000.0}
