"""The devnet's mempool: unconfirmed transactions, checked against the UTXO set.

A transaction may spend outputs of earlier mempool transactions; two mempool
transactions never spend the same output (``txn-mempool-conflict``). Mempool order is
arrival order, which is also a valid block order. :class:`~oceanfed_devnet.chain.Chain`
stores it on a clean stop and reloads it on start.
"""

from __future__ import annotations

from dataclasses import dataclass

from oceanfed.ocean.interpreter import STANDARD_FLAGS
from oceanfed.ocean.tx import Transaction
from oceanfed_devnet.state import (
    MEMPOOL_HEIGHT,
    REJECT_DUPLICATE,
    Coin,
    Outpoint,
    TxReject,
    UtxoState,
    check_tx,
    coins_of,
)


@dataclass
class MempoolEntry:
    tx: Transaction
    fees: dict[bytes, int]
    time: int


class Mempool:
    def __init__(self) -> None:
        self.entries: dict[bytes, MempoolEntry] = {}
        self.spent: dict[Outpoint, bytes] = {}
        self.outputs: dict[Outpoint, Coin] = {}

    def __contains__(self, txid: bytes) -> bool:
        return txid in self.entries

    def get_tx(self, txid: bytes) -> Transaction | None:
        entry = self.entries.get(txid)
        return entry.tx if entry else None

    def lookup(self, state: UtxoState, outpoint: Outpoint) -> Coin | None:
        """A coin as a new transaction would see it (None when spent in the mempool)."""
        if outpoint in self.spent:
            return None
        return state.get(outpoint) or self.outputs.get(outpoint)

    def accept(self, state: UtxoState, tx: Transaction, height: int, now: int) -> bytes:
        """Check ``tx`` for the next block at ``height`` and add it; raises TxReject."""
        txid = tx.txid()
        for txin in tx.vin:
            if (txin.prev_txid, txin.prev_index) in self.spent:
                raise TxReject(REJECT_DUPLICATE, "txn-mempool-conflict")

        def lookup(op: Outpoint) -> Coin | None:
            return state.get(op) or self.outputs.get(op)

        effect = check_tx(tx, lookup, height, STANDARD_FLAGS, block_time=now)
        self._add(tx, effect.fees, now)
        return txid

    def _add(self, tx: Transaction, fees: dict[bytes, int], now: int) -> None:
        txid = tx.txid()
        self.entries[txid] = MempoolEntry(tx, fees, now)
        for txin in tx.vin:
            self.spent[(txin.prev_txid, txin.prev_index)] = txid
        for op, coin in coins_of(tx, MEMPOOL_HEIGHT):
            self.outputs[op] = coin

    def block_txs(self) -> tuple[list[Transaction], dict[bytes, int]]:
        """The transactions for a new block, in order, and their fees per asset."""
        fees: dict[bytes, int] = {}
        for entry in self.entries.values():
            for asset, fee in entry.fees.items():
                fees[asset] = fees.get(asset, 0) + fee
        return [e.tx for e in self.entries.values()], fees

    def refresh(self, state: UtxoState, height: int, now: int) -> None:
        """After a block: drop what it mined or conflicts with; re-check the rest."""
        old = list(self.entries.values())
        self.entries.clear()
        self.spent.clear()
        self.outputs.clear()
        for entry in old:
            try:
                self.accept(state, entry.tx, height, max(now, entry.time))
            except TxReject:
                continue
            self.entries[entry.tx.txid()].time = entry.time
