"""The devnet's chain state: the UTXO set, issued assets, the freeze list, and the rules
a transaction must pass against them.

* A :class:`Coin` is an unspent output (explicit asset and value only). Outputs with an
  empty script (fees) or starting with ``OP_RETURN`` never enter the set.
* Genesis outputs are spendable (``-initialfreecoins``); its transactions are not checked.
* A coinbase output is spendable from its ``COINBASE_MATURITY``-th (2nd) block on
  (``bad-txns-premature-spend-of-coinbase``), as on the node.
* Per transaction (:func:`check_tx`): inputs exist and are unspent, no input twice, the
  per-asset sums balance (inputs + issuance/reissuance amounts = outputs, fee outputs
  included), every amount explicit and in range, issuance ids derived as the node derives
  them, reissuance spends the asset's token, the locktime is final, and every input script
  verifies.
* Freeze (FACTS.md): a transaction with an output to P2PKH(hash160 = 0) freezes all its
  P2PKH outputs; the others than the freeze output itself enter the freeze history with
  ``start`` = the block height and ``end`` = 0, and ``end`` becomes the height of the block
  that spends them (always recorded, as with ``-recordinflation=1``). Frozen outputs stay
  spendable, as on the node: freezing is a record (``getfreezehistory``,
  ``getutxoassetinfo``), not a consensus or mempool rule (``-freezelist`` is off by default).

Applying a block yields a :class:`BlockDiff` that the store writes in the block's own
SQLite transaction, so the state on disk is always that of the last whole block.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from oceanfed.ocean.address import is_p2pkh
from oceanfed.ocean.assets import issuance_entropy, issued_asset_id, reissuance_token_id
from oceanfed.ocean.interpreter import ScriptFailure, verify_script
from oceanfed.ocean.standard import FREEZE_SCRIPT
from oceanfed.ocean.tx import Transaction, explicit_asset_id

Outpoint = tuple[bytes, int]
MAX_MONEY = 21_000_000 * 100_000_000
LOCKTIME_THRESHOLD = 500_000_000
#: the height the node gives coins of unconfirmed transactions
MEMPOOL_HEIGHT = 0x7FFFFFFF
#: blocks before a coinbase output may be spent: Ocean's ``COINBASE_MATURITY``
#: (``consensus/consensus.h``), 2 where Bitcoin and Elements have 100
COINBASE_MATURITY = 2


@dataclass(frozen=True)
class Coin:
    asset: bytes  # 32-byte asset id, internal byte order
    value: int
    script: bytes
    height: int
    coinbase: bool = False
    frozen: bool = False


@dataclass(frozen=True)
class Issuance:
    """One issuance or reissuance, as ``listissuances`` reports it."""

    txid: bytes
    vin: int
    asset: bytes
    token: bytes
    entropy: bytes
    is_reissuance: bool
    asset_amount: int
    token_amount: int
    height: int


@dataclass
class FreezeEntry:
    txid: bytes
    vout: int
    asset: bytes
    value: int
    start: int
    end: int = 0


@dataclass
class BlockDiff:
    """What connecting one block changes."""

    height: int
    spent: list[tuple[Outpoint, Coin]] = field(default_factory=list)
    added: list[tuple[Outpoint, Coin]] = field(default_factory=list)
    issuances: list[Issuance] = field(default_factory=list)
    frozen: list[FreezeEntry] = field(default_factory=list)
    unfrozen: list[Outpoint] = field(default_factory=list)
    txids: list[bytes] = field(default_factory=list)


class TxReject(Exception):
    """A transaction broke a rule: ``code`` is the node's reject code, the message its
    reason; ``missing`` marks missing inputs (``sendrawtransaction``'s "Missing inputs")."""

    def __init__(self, code: int, reason: str, *, missing: bool = False):
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.missing = missing


REJECT_INVALID = 16
REJECT_DUPLICATE = 18
REJECT_NONSTANDARD = 64


def coins_of(
    tx: Transaction, height: int, *, coinbase: bool = False
) -> list[tuple[Outpoint, Coin]]:
    """The spendable outputs of ``tx`` (fee and OP_RETURN outputs excluded)."""
    txid = tx.txid()
    freeze = any(o.script_pubkey == FREEZE_SCRIPT for o in tx.vout)
    out = []
    for n, o in enumerate(tx.vout):
        if not o.script_pubkey or o.script_pubkey[0] == 0x6A:
            continue
        asset = explicit_asset_id(o.asset)
        amount = o.amount
        if asset is None or amount is None:
            continue
        frozen = freeze and is_p2pkh(o.script_pubkey)
        out.append(((txid, n), Coin(asset, amount, o.script_pubkey, height, coinbase, frozen)))
    return out


def freeze_entries(tx: Transaction, height: int) -> list[FreezeEntry]:
    """The freeze-history entries a transaction creates (none without a freeze output)."""
    if not any(o.script_pubkey == FREEZE_SCRIPT for o in tx.vout):
        return []
    txid = tx.txid()
    return [
        FreezeEntry(txid, n, explicit_asset_id(o.asset) or bytes(32), o.amount or 0, height)
        for n, o in enumerate(tx.vout)
        if is_p2pkh(o.script_pubkey) and o.script_pubkey != FREEZE_SCRIPT
    ]


def issuance_ids(
    prev: Outpoint, entropy_field: bytes, reissuance: bool
) -> tuple[bytes, bytes, bytes]:
    """``(entropy, asset, token)`` of an input's issuance, as the node derives them."""
    entropy = entropy_field if reissuance else issuance_entropy(prev[0], prev[1], entropy_field)
    return entropy, issued_asset_id(entropy), reissuance_token_id(entropy, False)


@dataclass
class TxEffect:
    """The result of checking a transaction: its fees per asset and its issuances."""

    fees: dict[bytes, int]
    issuances: list[Issuance]


def _add(sums: dict[bytes, int], asset: bytes, value: int) -> None:
    sums[asset] = sums.get(asset, 0) + value


def check_tx(
    tx: Transaction,
    lookup: Callable[[Outpoint], Coin | None],
    height: int,
    flags: int,
    *,
    block_time: int = 0,
) -> TxEffect:
    """Check a non-coinbase ``tx`` spending coins from ``lookup`` in a block at ``height``.

    Raises TxReject with the node's reason.
    """
    if tx.is_coinbase or any(i.is_coinbase for i in tx.vin):
        raise TxReject(REJECT_INVALID, "coinbase")
    if not tx.vin:
        raise TxReject(REJECT_INVALID, "bad-txns-vin-empty")
    if not tx.vout:
        raise TxReject(REJECT_INVALID, "bad-txns-vout-empty")
    if not _is_final(tx, height, block_time):
        raise TxReject(REJECT_INVALID, "bad-txns-nonfinal")
    seen: set[Outpoint] = set()
    coins: list[Coin] = []
    for txin in tx.vin:
        prev = (txin.prev_txid, txin.prev_index)
        if prev in seen:
            raise TxReject(REJECT_INVALID, "bad-txns-inputs-duplicate")
        seen.add(prev)
        if txin.is_pegin:
            raise TxReject(REJECT_INVALID, "bad-txns-pegin-unsupported")
        coin = lookup(prev)
        if coin is None:
            raise TxReject(REJECT_INVALID, "bad-txns-inputs-missingorspent", missing=True)
        coins.append(coin)
    for coin in coins:
        if coin.coinbase and height - coin.height < COINBASE_MATURITY:
            raise TxReject(REJECT_INVALID, "bad-txns-premature-spend-of-coinbase")
    ins: dict[bytes, int] = {}
    outs: dict[bytes, int] = {}
    issuances: list[Issuance] = []
    txid = tx.txid()
    for index, (txin, coin) in enumerate(zip(tx.vin, coins, strict=True)):
        _add(ins, coin.asset, coin.value)
        iss = txin.issuance
        if iss is None:
            continue
        reissue = iss.is_reissuance
        entropy, asset, token = issuance_ids(
            (txin.prev_txid, txin.prev_index), iss.entropy, reissue
        )
        amount = _explicit_amount(iss.amount, "bad-txns-issuance-amount")
        keys = _explicit_amount(iss.inflation_keys, "bad-txns-issuance-keys")
        if reissue:
            if iss.inflation_keys != b"\x00":
                raise TxReject(REJECT_INVALID, "bad-txns-reissuance-keys")
            if coin.asset != token:
                raise TxReject(REJECT_INVALID, "bad-txns-reissuance-token")
            if amount == 0:
                raise TxReject(REJECT_INVALID, "bad-txns-reissuance-amount")
        _add(ins, asset, amount)
        if keys:
            _add(ins, token, keys)
        issuances.append(
            Issuance(txid, index, asset, token, entropy, reissue, amount, keys, height)
        )
    fees: dict[bytes, int] = {}
    for o in tx.vout:
        out_asset = explicit_asset_id(o.asset)
        value = o.amount
        if out_asset is None or value is None:
            raise TxReject(REJECT_INVALID, "bad-txns-in-ne-out")
        if value > MAX_MONEY:
            raise TxReject(REJECT_INVALID, "bad-txns-vout-toolarge")
        _add(outs, out_asset, value)
        if not o.script_pubkey:
            _add(fees, out_asset, value)
    if any(v > MAX_MONEY for v in ins.values()):
        raise TxReject(REJECT_INVALID, "bad-txns-inputvalues-outofrange")
    if {a: v for a, v in ins.items() if v} != {a: v for a, v in outs.items() if v}:
        raise TxReject(REJECT_INVALID, "bad-txns-in-ne-out")
    for index, (txin, coin) in enumerate(zip(tx.vin, coins, strict=True)):
        try:
            verify_script(txin.script_sig, coin.script, tx, index, flags)
        except ScriptFailure as exc:
            raise TxReject(REJECT_INVALID, f"mandatory-script-verify-flag-failed ({exc})") from None
    return TxEffect(fees, issuances)


def _explicit_amount(field_bytes: bytes, reason: str) -> int:
    if field_bytes == b"\x00":
        return 0
    if field_bytes[:1] != b"\x01":
        raise TxReject(REJECT_INVALID, reason)
    amount = int.from_bytes(field_bytes[1:9], "big")
    if amount > MAX_MONEY:
        raise TxReject(REJECT_INVALID, reason)
    return amount


def _is_final(tx: Transaction, height: int, block_time: int) -> bool:
    if tx.locktime == 0:
        return True
    limit = height if tx.locktime < LOCKTIME_THRESHOLD else block_time
    if tx.locktime < limit:
        return True
    return all(i.sequence == 0xFFFFFFFF for i in tx.vin)


class UtxoState:
    """The UTXO set with indexes by script and running totals per asset."""

    def __init__(self) -> None:
        self.coins: dict[Outpoint, Coin] = {}
        self.by_script: dict[bytes, set[Outpoint]] = {}
        #: asset -> [spendable outputs, spendable amount, frozen outputs, frozen amount]
        self.totals: dict[bytes, list[int]] = {}
        #: asset -> (entropy, token) of issuances recorded after genesis
        self.asset_entropy: dict[bytes, tuple[bytes, bytes]] = {}
        self.issuances: list[Issuance] = []
        self.freeze: dict[Outpoint, FreezeEntry] = {}

    # -- reads ------------------------------------------------------------------------
    def get(self, outpoint: Outpoint) -> Coin | None:
        return self.coins.get(outpoint)

    def outpoints_for(self, scripts: Iterable[bytes]) -> list[Outpoint]:
        out: list[Outpoint] = []
        for s in scripts:
            out.extend(self.by_script.get(s, ()))
        return out

    # -- writes -----------------------------------------------------------------------
    def add_coin(self, outpoint: Outpoint, coin: Coin) -> None:
        self.coins[outpoint] = coin
        self.by_script.setdefault(coin.script, set()).add(outpoint)
        t = self.totals.setdefault(coin.asset, [0, 0, 0, 0])
        k = 2 if coin.frozen else 0
        t[k] += 1
        t[k + 1] += coin.value

    def remove_coin(self, outpoint: Outpoint) -> Coin:
        coin = self.coins.pop(outpoint)
        bucket = self.by_script[coin.script]
        bucket.discard(outpoint)
        if not bucket:
            del self.by_script[coin.script]
        t = self.totals[coin.asset]
        k = 2 if coin.frozen else 0
        t[k] -= 1
        t[k + 1] -= coin.value
        if not t[0] and not t[2]:
            del self.totals[coin.asset]
        return coin

    def add_issuance(self, issuance: Issuance) -> None:
        self.issuances.append(issuance)
        if issuance.height > 0 and not issuance.is_reissuance:
            self.asset_entropy[issuance.asset] = (issuance.entropy, issuance.token)

    def apply(self, diff: BlockDiff) -> None:
        for outpoint, _ in diff.spent:
            self.remove_coin(outpoint)
        for outpoint, coin in diff.added:
            self.add_coin(outpoint, coin)
        for issuance in diff.issuances:
            self.add_issuance(issuance)
        for entry in diff.frozen:
            self.freeze[(entry.txid, entry.vout)] = entry
        for outpoint in diff.unfrozen:
            self.freeze[outpoint].end = diff.height

    # -- blocks -----------------------------------------------------------------------
    def connect(
        self, txs: Iterable[Transaction], height: int, flags: int, *, block_time: int = 0
    ) -> BlockDiff:
        """Check a block's transactions against this state and return their diff; the
        state itself is left unchanged. Raises TxReject (reason = the block's reject
        reason). At height 0 nothing is checked."""
        txs = list(txs)
        diff = BlockDiff(height)
        created: dict[Outpoint, Coin] = {}
        spent: set[Outpoint] = set()

        def lookup(op: Outpoint) -> Coin | None:
            if op in spent:
                return None
            return created.get(op) or self.coins.get(op)

        fees: dict[bytes, int] = {}
        for pos, tx in enumerate(txs):
            txid = tx.txid()
            diff.txids.append(txid)
            if pos == 0 and height > 0:
                pass  # the coinbase, checked below
            elif height == 0:
                for index, txin in enumerate(tx.vin):
                    if txin.issuance is not None and not tx.is_coinbase:
                        entropy, asset, token = issuance_ids(
                            (txin.prev_txid, txin.prev_index),
                            txin.issuance.entropy,
                            txin.issuance.is_reissuance,
                        )
                        diff.issuances.append(
                            Issuance(
                                txid,
                                index,
                                asset,
                                token,
                                entropy,
                                txin.issuance.is_reissuance,
                                _explicit_amount(txin.issuance.amount, "genesis"),
                                _explicit_amount(txin.issuance.inflation_keys, "genesis"),
                                0,
                            )
                        )
            else:
                effect = check_tx(tx, lookup, height, flags, block_time=block_time)
                for asset, fee in effect.fees.items():
                    _add(fees, asset, fee)
                diff.issuances.extend(effect.issuances)
                for txin in tx.vin:
                    op = (txin.prev_txid, txin.prev_index)
                    coin = created.pop(op, None)
                    if coin is None:
                        diff.spent.append((op, self.coins[op]))
                    else:
                        diff.added = [(o, c) for o, c in diff.added if o != op]
                    spent.add(op)
                    entry = self.freeze.get(op)
                    if entry is not None and entry.end == 0:
                        diff.unfrozen.append(op)
                diff.frozen.extend(freeze_entries(tx, height))
            for op, coin in coins_of(tx, height, coinbase=pos == 0):
                created[op] = coin
                diff.added.append((op, coin))
        if height > 0:
            paid: dict[bytes, int] = {}
            for o in txs[0].vout:
                cb_asset = explicit_asset_id(o.asset)
                if cb_asset is None or o.amount is None:
                    raise TxReject(REJECT_INVALID, "bad-cb-amount")
                _add(paid, cb_asset, o.amount)
            if any(v > fees.get(a, 0) for a, v in paid.items()):
                raise TxReject(REJECT_INVALID, "bad-cb-amount")
        return diff
