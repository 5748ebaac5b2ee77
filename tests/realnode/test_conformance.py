"""The devnet held to the real node: the same RPC sequence sent to an embedded devnet and to
real oceand nodes (same 2-of-3 keys, one client each), answers compared field by field.

Values that depend on the chain (hashes, times, txids, addresses) differ by nature; what is
compared is everything else: result or error, error codes and messages, field names, types,
heights, flags, script shapes. The intended differences are asserted one by one in
``test_intended_differences`` and listed in docs/realnode.md.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest

from oceanfed.crypto import unwrap_scriptsig, verify_digest
from oceanfed.errors import RPCError
from oceanfed.keyfile import generate_private_key
from oceanfed.ocean.address import address_to_script
from oceanfed.ocean.block import Block
from oceanfed.ocean.coinbase import finish_block
from oceanfed.ocean.proof import build_solution, push_stack
from oceanfed.ocean.standard import FREEZE_SCRIPT
from oceanfed.ocean.tx import (
    Transaction,
    TxIn,
    TxOut,
    explicit_asset,
    explicit_value,
    merkle_root,
)
from oceanfed.rpc import NodeClient
from oceanfed_devnet.oceand import OceandNet, create_oceand_devnet
from oceanfed_devnet.setup import create_devnet, start_devnet

pytestmark = [pytest.mark.realnode, pytest.mark.slow]


@dataclass
class Backend:
    name: str
    clients: dict[str, NodeClient]
    #: restart the node serving an endpoint (the devnet: its one process, every endpoint)
    restart: Callable[[str], None]

    def call(self, who: str, method: str, *params: Any) -> tuple[str, Any]:
        """``("ok", result)`` or ``("error", (code, message))``."""
        try:
            return "ok", self.clients[who].call(method, *params)
        except RPCError as exc:
            message = str(exc).split(": ", 1)[-1].rsplit(" (code", 1)[0]
            return "error", (exc.code, message)

    def ok(self, who: str, method: str, *params: Any) -> Any:
        kind, value = self.call(who, method, *params)
        assert kind == "ok", f"{self.name}: {method}: {value}"
        return value


@pytest.fixture(scope="module")
def backends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Backend, Backend]]:
    keys = [generate_private_key() for _ in range(3)]
    root = tmp_path_factory.mktemp("conformance")
    dlayout = create_devnet(root / "devnet", 3, 2, block_keys=keys, clients=1)
    servers = [start_devnet(dlayout.dir)[1]]
    olayout = create_oceand_devnet(root / "oceand", 3, 2, block_keys=keys, clients=1)
    net = OceandNet(olayout)

    def devnet_clients() -> dict[str, NodeClient]:
        return {n: NodeClient(dlayout.url(n), n, dlayout.password(n), retries=0)
                for n in dlayout.endpoints}

    def restart_devnet(_name: str) -> None:
        servers.pop().stop()
        servers.append(start_devnet(dlayout.dir)[1])
        # new connections, as a client of a restarted node needs (the old ones are hung up)
        devnet.clients.update(devnet_clients())

    def restart_node(name: str) -> None:
        net.kill_node(name, signal.SIGTERM)  # a clean shutdown
        net.start_node(name)

    try:
        net.start()
        devnet = Backend("devnet", devnet_clients(), restart_devnet)
        oceand = Backend("oceand", {n: net.client(n) for n in olayout.endpoints}, restart_node)
        yield devnet, oceand
    finally:
        net.stop()
        for server in servers:
            server.stop()


def both(backends: tuple[Backend, Backend], who: str, method: str, *params: Any) -> tuple[Any, Any]:
    """The same call on both; asserts the same kind of answer, and equal errors."""
    d, o = (b.call(who, method, *params) for b in backends)
    assert d[0] == o[0], f"{method}{params}: devnet {d}, oceand {o}"
    if d[0] == "error":
        assert d[1] == o[1], f"{method}: devnet error {d[1]}, oceand error {o[1]}"
    return d[1], o[1]


#: fields the real node shows and the devnet leaves out (its wallet is not an HD wallet and
#: keeps no key birth times); listed in docs/realnode.md
DEVNET_OMITS = frozenset({
    "confidential", "derivedpubkey", "hdkeypath", "hdmasterkeyid", "timestamp",
})


def same_shape(d: Any, o: Any, path: str = "", omits: frozenset[str] = DEVNET_OMITS) -> None:
    """Same types and field names all the way down (values may differ), except the fields
    in ``omits``, which only the real node may show."""
    assert type(d) is type(o) or {type(d), type(o)} <= {int, float}, f"{path}: {d!r} vs {o!r}"
    if isinstance(d, dict):
        o_fields = set(o) - (omits - set(d))
        assert sorted(d) == sorted(o_fields), f"{path}: fields {sorted(d)} vs {sorted(o)}"
        for k in d:
            same_shape(d[k], o[k], f"{path}.{k}", omits)
    elif isinstance(d, list) and d and o:
        if all(isinstance(x, dict) for x in d + o):  # entries differ in order: merge them
            same_shape({k: v for x in d for k, v in x.items()},
                       {k: v for x in o for k, v in x.items()}, f"{path}[]", omits)
        else:
            same_shape(d[0], o[0], f"{path}[0]", omits)


def test_block_building_and_signing(backends: tuple[Backend, Backend]) -> None:
    devnet, oceand = backends
    assert both(backends, "m0", "getblockcount") == (0, 0)
    d_hex, o_hex = both(backends, "m0", "getnewblockhex")
    d_block, o_block = Block.from_hex(d_hex), Block.from_hex(o_hex)
    for field in ("version", "height", "challenge", "solution", "attestation_hash", "mapping_hash"):
        assert getattr(d_block.header, field) == getattr(o_block.header, field), field
    assert len(d_block.txs) == len(o_block.txs) == 1
    assert devnet.ok("m0", "testproposedblock", d_hex) is None
    assert oceand.ok("m0", "testproposedblock", o_hex) is None
    both(backends, "m0", "testproposedblock", "00ff")  # -22 "Block decode failed"
    both(backends, "m0", "submitblock", "00ff")
    both(backends, "m0", "combineblocksigs")  # missing argument: -1 with the help text?

    sigs: dict[str, list[str]] = {"devnet": [], "oceand": []}
    for b, block_hex, block in ((devnet, d_hex, d_block), (oceand, o_hex, o_block)):
        for m in ("m0", "m1", "m2"):
            answer = b.ok(m, "signblock", block_hex)
            assert answer.startswith("00")
            der = unwrap_scriptsig(bytes.fromhex(answer))
            assert any(verify_digest(bytes.fromhex(p), block.header.digest(), der)
                       for p in _pubkeys(block))
            sigs[b.name].append(answer)
    # one signature: incomplete, the missing one filled with OP_0; then complete
    for b, block_hex in ((devnet, d_hex), (oceand, o_hex)):
        one = b.ok("m0", "combineblocksigs", block_hex, sigs[b.name][:1])
        assert one["complete"] is False
        stack, ok = push_stack(Block.from_hex(one["hex"]).header.solution)
        assert ok and [len(x) > 0 for x in stack] == [False, True, False]
        two = b.ok("m0", "combineblocksigs", block_hex, [sigs[b.name][0], "zz", sigs[b.name][2]])
        assert two["complete"] is True
    d_two = devnet.ok("m0", "combineblocksigs", d_hex, sigs["devnet"])
    o_two = oceand.ok("m0", "combineblocksigs", o_hex, sigs["oceand"])
    same_shape(d_two, o_two)
    # a wrong key order is refused by both, as a result string
    for b, block in ((devnet, d_block), (oceand, o_block)):
        ders = [unwrap_scriptsig(bytes.fromhex(s)) for s in sigs[b.name]]
        wrong = block.with_solution(build_solution([ders[1], ders[0]])).block_hex()
        assert b.ok("m0", "submitblock", wrong) == "block-proof-invalid"
    for expected in (None, "duplicate"):
        assert devnet.ok("m0", "submitblock", d_two["hex"]) == expected
        assert oceand.ok("m0", "submitblock", o_two["hex"]) == expected
    # the old proposal is stale now: same error on both
    d_err = devnet.call("m0", "testproposedblock", d_hex)
    o_err = oceand.call("m0", "testproposedblock", o_hex)
    assert d_err == o_err and d_err[0] == "error", (d_err, o_err)
    # what a block looks like through RPC
    d_hash, o_hash = both(backends, "m0", "getbestblockhash")
    same_shape(devnet.ok("m0", "getblockheader", d_hash), oceand.ok("m0", "getblockheader", o_hash))
    same_shape(devnet.ok("m0", "getblock", d_hash), oceand.ok("m0", "getblock", o_hash))
    same_shape(devnet.ok("m0", "getchaintips"), oceand.ok("m0", "getchaintips"))
    assert both(backends, "m0", "getblockcount") == (1, 1)
    both(backends, "m0", "generate", 1)  # -32601 on a signed chain
    both(backends, "m0", "nosuchmethod")


def _pubkeys(block: Block) -> list[str]:
    from oceanfed.ocean.script import parse_multisig

    return [p.hex() for p in parse_multisig(block.header.challenge)[1]]


def _mine(b: Backend, txids: list[str]) -> None:
    """One block signed by m0 and m1, once m0's mempool holds ``txids`` (relayed from c0)."""
    import time

    deadline = time.monotonic() + 60
    while not set(txids) <= set(b.ok("m0", "getrawmempool")):
        assert time.monotonic() < deadline, f"{b.name}: {txids} never reached m0's mempool"
        time.sleep(0.1)
    proposal = b.ok("m0", "getnewblockhex")
    sigs = [b.ok(m, "signblock", proposal) for m in ("m0", "m1")]
    combined = b.ok("m0", "combineblocksigs", proposal, sigs)
    assert b.ok("m0", "submitblock", combined["hex"]) is None
    while b.ok("c0", "getblockcount") < b.ok("m0", "getblockcount"):
        assert time.monotonic() < deadline, f"{b.name}: c0 did not follow"
        time.sleep(0.1)


def test_wallet_and_assets(backends: tuple[Backend, Backend]) -> None:
    devnet, oceand = backends
    d_bal, o_bal = both(backends, "c0", "getbalance")
    assert d_bal == o_bal == {"CBT": 21_000_000}
    d_addr, o_addr = both(backends, "c0", "getnewaddress")
    assert d_addr[:2] == o_addr[:2] == "2d"
    same_shape(devnet.ok("c0", "validateaddress", d_addr), oceand.ok("c0", "validateaddress", o_addr))
    oceand.ok("c0", "settxfee", 0.001)  # intended difference: see test_intended_differences
    d_iss, o_iss = both(backends, "c0", "issueasset", 1000, 1, False)
    same_shape(d_iss, o_iss)
    for b, iss in ((devnet, d_iss), (oceand, o_iss)):
        _mine(b, [iss["txid"]])
    same_shape(*(b.ok("c0", "getutxoassetinfo") for b in backends))
    same_shape(*(b.ok("c0", "listunspent") for b in backends))
    same_shape(*(b.ok("c0", "listissuances") for b in backends))
    d_tx = devnet.ok("c0", "getrawtransaction", d_iss["txid"], True)
    o_tx = oceand.ok("c0", "getrawtransaction", o_iss["txid"], True)
    assert sorted(d_tx) == sorted(o_tx)
    # a policy-asset payment works alike, with a fee output on both
    d_pay = devnet.ok("c0", "sendtoaddress", devnet.ok("m0", "getnewaddress"), 1.5)
    o_pay = oceand.ok("c0", "sendtoaddress", oceand.ok("m0", "getnewaddress"), 1.5)
    for b, txid in ((devnet, d_pay), (oceand, o_pay)):
        decoded = b.ok("c0", "getrawtransaction", txid, True)
        fees = [o for o in decoded["vout"] if o["scriptPubKey"]["type"] == "fee"]
        assert len(fees) == 1 and fees[0]["value"] > 0, (b.name, decoded["vout"])
        _mine(b, [txid])
    both(backends, "c0", "sendtoaddress", "notanaddress", 1)


def test_intended_differences(backends: tuple[Backend, Backend]) -> None:
    """Each documented difference, shown (docs/realnode.md)."""
    devnet, oceand = backends
    # 1. settxfee: the real wallet has it; the devnet does not
    assert oceand.call("c0", "settxfee", 0.001) == ("ok", True)
    assert devnet.call("c0", "settxfee", 0.001)[1][0] == -32601
    # 2. fees of a non-policy asset send: the real wallet pays them in the asset sent (the
    # devnet in the policy asset), so sending a whole balance of it is refused with -4
    d_iss = devnet.ok("c0", "issueasset", 10, 0, False)
    o_iss = oceand.ok("c0", "issueasset", 10, 0, False)
    _mine(devnet, [d_iss["txid"]])
    _mine(oceand, [o_iss["txid"]])
    o_part = oceand.ok("c0", "sendtoaddress", oceand.ok("m0", "getnewaddress"), 1, "", "", False,
                       o_iss["asset"])
    d_part = devnet.ok("c0", "sendtoaddress", devnet.ok("m0", "getnewaddress"), 1, "", "", False,
                       d_iss["asset"])
    for b, txid, asset in ((oceand, o_part, o_iss["asset"]), (devnet, d_part, None)):
        vout = b.ok("c0", "getrawtransaction", txid, True)["vout"]
        [fee] = [o for o in vout if o["scriptPubKey"]["type"] == "fee"]
        if asset is not None:
            assert fee["asset"] == asset, (b.name, fee)
        else:
            assert fee["asset"] != d_iss["asset"], fee  # the policy asset
        _mine(b, [txid])
    whole = oceand.ok("c0", "getbalance")[o_iss["asset"]]
    kind, err = oceand.call("c0", "sendtoaddress", oceand.ok("c0", "getnewaddress"), whole, "", "",
                            False, o_iss["asset"])
    assert kind == "error" and err[0] == -4 and "requires a transaction fee" in err[1], err
    assert devnet.call("c0", "sendtoaddress", devnet.ok("c0", "getnewaddress"), 9, "", "", False,
                       d_iss["asset"])[0] == "ok"
    # 3. subtractfeefromamount: the real wallet takes the fee from the amount; the devnet
    # refuses the flag
    assert oceand.call("c0", "sendtoaddress", oceand.ok("c0", "getnewaddress"), whole, "", "",
                       True, o_iss["asset"])[0] == "ok"
    kind, err = devnet.call("c0", "sendtoaddress", devnet.ok("c0", "getnewaddress"), 1, "", "",
                            True, d_iss["asset"])
    assert kind == "error" and err[0] == -8 and "not supported" in err[1]


def test_coinbase_fees_and_mempool_across_restarts(backends: tuple[Backend, Backend]) -> None:
    """4. fees: the real node's coinbase pays them to OP_TRUE (the default of an empty
    ``con_mandatorycoinbase``), the devnet's burns them (OP_RETURN, its default
    ``coinbase_destination``). Alike: both keep a pending transaction across a clean
    restart (the real node in mempool.dat, the devnet in its chain database)."""
    devnet, oceand = backends
    scripts: dict[str, set[str]] = {}
    pending = {}
    for b in backends:
        txid = b.ok("c0", "sendtoaddress", b.ok("m1", "getnewaddress"), 2.5)
        _mine(b, [txid])
        block = b.ok("m0", "getblock", b.ok("m0", "getbestblockhash"))
        coinbase = b.ok("m0", "getrawtransaction", block["tx"][0], True)
        scripts[b.name] = {o["scriptPubKey"]["hex"] for o in coinbase["vout"] if o["value"] > 0}
        # a payment between c0 and m1, pending: m2's mempool holds it, m2 restarts
        pending[b.name] = b.ok("c0", "sendtoaddress", b.ok("m1", "getnewaddress"), 1.25)
        _wait_mempool(b, "m2", pending[b.name])
        b.restart("m2")
    assert scripts == {"oceand": {"51"}, "devnet": {"6a"}}
    assert pending["oceand"] in oceand.ok("m2", "getrawmempool")
    assert pending["devnet"] in devnet.ok("m2", "getrawmempool")


def _wait_mempool(b: Backend, who: str, txid: str) -> None:
    import time

    deadline = time.monotonic() + 60
    while txid not in b.ok(who, "getrawmempool"):
        assert time.monotonic() < deadline, f"{b.name}: {txid} never reached {who}'s mempool"
        time.sleep(0.1)


COIN = 100_000_000
OP_TRUE = b"\x51"


@pytest.fixture(scope="module")
def op_true_devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    """An embedded devnet whose coinbase pays the fees to ``OP_TRUE``, as the node's does
    (the devnet's default burns them), so that its coinbase outputs can be spent."""
    layout = create_devnet(tmp_path_factory.mktemp("optrue"), 3, 2, clients=1,
                           coinbase_destination=OP_TRUE)
    server = start_devnet(layout.dir)[1]
    try:
        yield Backend("devnet", {n: NodeClient(layout.url(n), n, layout.password(n), retries=0)
                                 for n in layout.endpoints}, lambda _name: None)
    finally:
        server.stop()


def _spend(prevouts: list[tuple[str, int]], outs: list[tuple[bytes, int, bytes]]) -> Transaction:
    """An unsigned transaction: ``prevouts`` as (txid hex, vout), ``outs`` as (asset id in
    RPC byte order, satoshi, script); a fee output has an empty script."""
    return Transaction(
        2,
        tuple(TxIn(bytes.fromhex(txid)[::-1], n, b"", 0xFFFFFFFF) for txid, n in prevouts),
        tuple(TxOut(explicit_asset(asset[::-1]), explicit_value(value), script)
              for asset, value, script in outs),
        0,
    )


def _with_tx(proposal: Block, tx: Transaction) -> Block:
    """``proposal`` with ``tx`` added after its transactions (merkle root and, where the
    coinbase has one, witness commitment redone)."""
    txs = [*proposal.txs, tx]
    if proposal.txs[0].vin[0].witness.script_witness:
        return finish_block(proposal.header, txs)
    root = merkle_root([t.txid() for t in txs])
    return Block(replace(proposal.header, merkle_root=root), tuple(txs))


def test_coinbase_maturity(backends: tuple[Backend, Backend], op_true_devnet: Backend) -> None:
    """Alike: a coinbase output is spendable from the second block after its own (Ocean's
    ``COINBASE_MATURITY`` is 2, not Bitcoin's 100). At depth 1 both refuse it, in the
    mempool and in a proposed block, with ``bad-txns-premature-spend-of-coinbase``.
    6. different: the node's wallets list mature OP_TRUE coinbase outputs as their own."""
    oceand = backends[1]
    answers: dict[str, list[tuple[str, Any]]] = {}
    for b in (op_true_devnet, oceand):
        if b is oceand:
            b.ok("c0", "settxfee", 0.001)
        _mine(b, [b.ok("c0", "sendtoaddress", b.ok("m1", "getnewaddress"), 3)])
        cb_txid = b.ok("m0", "getblock", b.ok("m0", "getbestblockhash"))["tx"][0]
        vout = b.ok("m0", "getrawtransaction", cb_txid, True)["vout"]
        [(n, out)] = [(n, o) for n, o in enumerate(vout)
                      if o["scriptPubKey"]["hex"] == OP_TRUE.hex() and o["value"] > 0]
        value, asset = round(out["value"] * COIN), bytes.fromhex(out["asset"])
        to = address_to_script(b.ok("c0", "getnewaddress"))
        tx = _spend([(cb_txid, n)], [(asset, value - value // 2, to), (asset, value // 2, b"")])
        got = [b.call("c0", "sendrawtransaction", tx.hex())]
        proposal = Block.from_hex(b.ok("m0", "getnewblockhex"))
        block = _with_tx(proposal, tx)
        got.append(b.call("m0", "testproposedblock", block.block_hex()))
        _mine(b, [])  # depth 2
        got.append(b.call("c0", "sendrawtransaction", tx.hex()))
        if got[-1] == ("ok", tx.txid()[::-1].hex()):
            _mine(b, [got[-1][1]])
        answers[b.name] = [(kind, None if kind == "ok" else value) for kind, value in got]
    assert answers["devnet"] == answers["oceand"], answers
    assert answers["oceand"][0] == ("error", (-26, "16: bad-txns-premature-spend-of-coinbase"))
    assert answers["oceand"][1] == ("error", (-25, "bad-txns-premature-spend-of-coinbase"))
    assert answers["oceand"][2] == ("ok", None)
    # a difference: the node's wallet takes the coinbases' OP_TRUE outputs as its own (once
    # mature, 3 confirmations); the devnet's wallet never does
    for b in (op_true_devnet, oceand):
        _mine(b, [])
        _mine(b, [])
        listed = [u for u in b.ok("m0", "listunspent") if u["scriptPubKey"] == OP_TRUE.hex()]
        assert bool(listed) == (b is oceand), (b.name, listed)


def test_frozen_outputs(backends: tuple[Backend, Backend]) -> None:
    """Freezing: a transaction with an output to P2PKH(hash160 = 0) freezes its other P2PKH
    outputs (``getfreezehistory``, ``getutxoassetinfo``). Alike on both: a frozen output is
    spent by a raw transaction and by the wallet (the node's ``-freezelist`` mempool check
    is off by default, and no consensus rule looks at the freeze), and each spend ends its
    freeze-history entry at the spending block's height."""
    answers: dict[str, dict[str, Any]] = {}
    for b in backends:
        got: dict[str, Any] = {}
        unspent = max(b.ok("c0", "listunspent"), key=lambda u: u["amount"])
        asset, amount = bytes.fromhex(unspent["asset"]), round(unspent["amount"] * COIN)
        freeze = _spend([(unspent["txid"], unspent["vout"])], [
            (asset, 100_000, FREEZE_SCRIPT),
            (asset, 10 * COIN, address_to_script(b.ok("m2", "getnewaddress"))),
            (asset, 5 * COIN, address_to_script(b.ok("m2", "getnewaddress"))),
            (asset, amount - 15 * COIN - 200_000, address_to_script(b.ok("c0", "getnewaddress"))),
            (asset, 100_000, b""),
        ])
        signed = b.ok("c0", "signrawtransaction", freeze.hex())
        assert signed["complete"], (b.name, signed)
        txid = b.ok("c0", "sendrawtransaction", signed["hex"])
        _mine(b, [txid])

        def history(b: Backend = b, txid: str = txid) -> list[tuple[int, float, int, int | None]]:
            """This freeze's entries, heights relative to the tip (end None: not spent)."""
            tip = b.ok("m0", "getblockcount")
            return sorted((h["vout"], h["value"], h["start"] - tip,
                           h["end"] - tip if h["end"] else None)
                          for h in b.ok("m0", "getfreezehistory") if h["txid"] == txid)

        got["frozen"] = history()
        policy = next(i for i in b.ok("m0", "getutxoassetinfo") if i["asset"] == unspent["asset"])
        got["frozentxouts"] = policy["frozentxouts"]
        # (the node's wallet also lists the coinbases' OP_TRUE outputs, as its own)
        got["m2 lists"] = sorted(u["vout"] for u in b.ok("m2", "listunspent") if u["txid"] == txid)
        # a raw transaction spends the first frozen output
        raw = _spend([(txid, 1)], [(asset, 10 * COIN - 100_000,
                                    address_to_script(b.ok("c0", "getnewaddress"))),
                                   (asset, 100_000, b"")])
        signed = b.ok("m2", "signrawtransaction", raw.hex())
        got["sendrawtransaction"] = b.call("m2", "sendrawtransaction", signed["hex"])
        if got["sendrawtransaction"][0] == "ok":
            _mine(b, [got["sendrawtransaction"][1]])
        got["after raw"] = history()
        # the wallet spends the other, its only coin
        got["sendtoaddress"] = b.call("m2", "sendtoaddress", b.ok("c0", "getnewaddress"), 1)
        if got["sendtoaddress"][0] == "ok":
            _mine(b, [got["sendtoaddress"][1]])
        got["after wallet"] = history()
        for key in ("sendrawtransaction", "sendtoaddress"):
            got[key] = got[key][0] if got[key][0] == "ok" else got[key]
        answers[b.name] = got
    assert answers["devnet"] == answers["oceand"], answers
    o = answers["oceand"]
    assert [(v, start, end) for v, _, start, end in o["frozen"]] == [(1, 0, None), (2, 0, None),
                                                                  (3, 0, None)]
    assert o["frozentxouts"] == 4  # the three and the freeze output itself
    assert o["m2 lists"] == [1, 2]
    assert o["sendrawtransaction"] == o["sendtoaddress"] == "ok"
    assert [(v, end) for v, _, _, end in o["after raw"]] == [(1, 0), (2, None), (3, None)]
    assert [(v, end) for v, _, _, end in o["after wallet"]] == [(1, -1), (2, 0), (3, None)]


def test_zero_fee_raw_transaction(backends: tuple[Backend, Backend]) -> None:
    """Alike: a raw transfer paying no fee at all is relayed and mined by both
    (``sendrawtransaction`` does not apply the node's free-relay limit, and its mempool
    minimum fee is zero until the mempool is full). The fee the node's *wallet* wants is
    in the table of intended differences."""
    answers: dict[str, Any] = {}
    for b in backends:
        unspent = max(b.ok("c0", "listunspent"), key=lambda u: u["amount"])
        raw = _spend([(unspent["txid"], unspent["vout"])], [
            (bytes.fromhex(unspent["asset"]), round(unspent["amount"] * COIN),
             address_to_script(b.ok("c0", "getnewaddress")))])
        signed = b.ok("c0", "signrawtransaction", raw.hex())
        kind, value = b.call("c0", "sendrawtransaction", signed["hex"])
        if kind == "ok":
            _mine(b, [value])
            value = [t["value"] for t in b.ok("c0", "getrawtransaction", value, True)["vout"]
                     if t["scriptPubKey"]["type"] == "fee"]
        answers[b.name] = (kind, value)
    assert answers["devnet"] == answers["oceand"] == ("ok", []), answers
