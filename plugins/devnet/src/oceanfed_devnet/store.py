"""Storage of the devnet chain in SQLite (WAL, ``synchronous=OFF``: a clean restart or a
killed process keeps every block; a power loss may not).

Every block, main chain or side branch, is kept in ``blocks``; ``main_chain`` maps heights
to the hashes of the active chain. A block (and any reorganisation it causes) is applied in
one transaction, written to the WAL (flushed to disk at checkpoints, not per block). ``mempool`` holds the pending
transactions as of the last clean stop (the node's ``mempool.dat``).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from oceanfed.errors import OceanfedError
from oceanfed_devnet.state import BlockDiff, Coin, FreezeEntry, Issuance, UtxoState

#: bytes of a raw block that always hold its header (172 + a 16-key challenge + solution)
HEADER_PREFIX = 4096

SCHEMA = """
CREATE TABLE IF NOT EXISTS blocks (
    hash   BLOB PRIMARY KEY,
    prev   BLOB NOT NULL,
    height INTEGER NOT NULL,
    raw    BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS main_chain (
    height INTEGER PRIMARY KEY,
    hash   BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS coins (
    txid     BLOB NOT NULL,
    n        INTEGER NOT NULL,
    asset    BLOB NOT NULL,
    value    INTEGER NOT NULL,
    script   BLOB NOT NULL,
    height   INTEGER NOT NULL,
    coinbase INTEGER NOT NULL,
    frozen   INTEGER NOT NULL,
    PRIMARY KEY (txid, n)
);
CREATE TABLE IF NOT EXISTS issuances (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    txid         BLOB NOT NULL,
    vin          INTEGER NOT NULL,
    asset        BLOB NOT NULL,
    token        BLOB NOT NULL,
    entropy      BLOB NOT NULL,
    reissuance   INTEGER NOT NULL,
    asset_amount INTEGER NOT NULL,
    token_amount INTEGER NOT NULL,
    height       INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS freeze (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    txid   BLOB NOT NULL,
    n      INTEGER NOT NULL,
    asset  BLOB NOT NULL,
    value  INTEGER NOT NULL,
    start  INTEGER NOT NULL,
    "end"  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS mempool (
    seq    INTEGER PRIMARY KEY,
    raw    BLOB NOT NULL,
    time   INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS txindex (
    txid   BLOB PRIMARY KEY,
    block  BLOB NOT NULL,
    height INTEGER NOT NULL
);
"""

#: meta key holding the hash of the block the stored state (coins, issuances, ...) is at
STATE_TIP = "state_tip"


class ChainStore:
    """The chain database of one devnet; safe to share between threads."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            # OFF: a commit survives the devnet process dying (it is in the OS's cache), not
            # the machine losing power; a test node needs no more. FULL would flush the WAL
            # inside the chain lock on every block, and every member's submitblock would
            # wait for it (a member's own state stays FULL)
            self._db.execute("PRAGMA synchronous=OFF")
            self._db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise OceanfedError(
                f"{self.path}: cannot open the devnet chain database ({exc})"
            ) from None
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def is_empty(self) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM blocks LIMIT 1").fetchone() is None

    def iter_headers(self) -> Iterator[tuple[bytes, int, bytes]]:
        """``(hash, height, head)`` of every stored block by height, where ``head`` is a
        prefix of the raw block long enough to hold its header."""
        with self._lock:
            rows = self._db.execute(
                "SELECT hash, height, substr(raw, 1, ?) FROM blocks ORDER BY height",
                (HEADER_PREFIX,),
            ).fetchall()
        yield from rows

    def main_chain(self) -> list[bytes]:
        """Hashes of the active chain, genesis first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT height, hash FROM main_chain ORDER BY height"
            ).fetchall()
        for expected, (height, _) in enumerate(rows):
            if height != expected:
                raise OceanfedError(f"{self.path}: main chain has a gap at height {expected}")
        return [h for _, h in rows]

    def raw_block(self, block_hash: bytes) -> bytes | None:
        with self._lock:
            row = self._db.execute(
                "SELECT raw FROM blocks WHERE hash = ?", (block_hash,)
            ).fetchone()
        return row[0] if row else None

    def add_block(
        self,
        block_hash: bytes,
        prev: bytes,
        height: int,
        raw: bytes,
        *,
        new_main: Sequence[tuple[int, bytes]] = (),
        truncate_above: int | None = None,
        diff: BlockDiff | None = None,
        rebuilt: tuple[UtxoState, Sequence[tuple[bytes, bytes, int]]] | None = None,
    ) -> None:
        """Store a block and, in the same transaction, update the active chain and state.

        ``truncate_above`` drops main-chain entries above that height (a reorganisation);
        ``new_main`` are the ``(height, hash)`` entries to set. ``diff`` is what the block
        changes in the state when it extends the tip; ``rebuilt`` replaces the whole state
        (after a reorganisation) with a state and its ``(txid, block, height)`` index.
        """
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute(
                    "INSERT OR IGNORE INTO blocks (hash, prev, height, raw) VALUES (?, ?, ?, ?)",
                    (block_hash, prev, height, raw),
                )
                if truncate_above is not None:
                    self._db.execute("DELETE FROM main_chain WHERE height > ?", (truncate_above,))
                self._db.executemany(
                    "INSERT OR REPLACE INTO main_chain (height, hash) VALUES (?, ?)", new_main
                )
                if diff is not None:
                    self._write_diff(diff, block_hash)
                if rebuilt is not None:
                    self._write_state(*rebuilt)
                if diff is not None or rebuilt is not None:
                    self._db.execute(
                        "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                        (STATE_TIP, block_hash.hex()),
                    )
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._db.execute("ROLLBACK")
                raise OceanfedError(f"{self.path}: cannot store block ({exc})") from None

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def save_mempool(self, entries: Sequence[tuple[bytes, int]]) -> None:
        """Replace the stored pending transactions with ``(raw tx, arrival time)`` entries,
        in mempool order, in one transaction."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute("DELETE FROM mempool")
                self._db.executemany(
                    "INSERT INTO mempool (seq, raw, time) VALUES (?, ?, ?)",
                    [(n, raw, when) for n, (raw, when) in enumerate(entries)],
                )
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._db.execute("ROLLBACK")
                raise OceanfedError(f"{self.path}: cannot store the mempool ({exc})") from None

    def load_mempool(self) -> list[tuple[bytes, int]]:
        """The pending transactions saved by :meth:`save_mempool`, in mempool order."""
        with self._lock:
            return self._db.execute("SELECT raw, time FROM mempool ORDER BY seq").fetchall()

    # -- chain state ----------------------------------------------------------------------
    def _write_diff(self, diff: BlockDiff, block_hash: bytes) -> None:
        db = self._db
        # an empty list is skipped: most blocks change only a few of the tables
        if diff.spent:
            db.executemany("DELETE FROM coins WHERE txid = ? AND n = ?", [op for op, _ in diff.spent])
        if diff.added:
            db.executemany(
                "INSERT OR REPLACE INTO coins VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [_coin_row(op, c) for op, c in diff.added],
            )
        if diff.issuances:
            db.executemany(
                "INSERT INTO issuances (txid, vin, asset, token, entropy, reissuance, asset_amount,"
                " token_amount, height) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [_issuance_row(i) for i in diff.issuances],
            )
        if diff.frozen:
            db.executemany(
                'INSERT INTO freeze (txid, n, asset, value, start, "end") VALUES (?, ?, ?, ?, ?, ?)',
                [(e.txid, e.vout, e.asset, e.value, e.start, e.end) for e in diff.frozen],
            )
        if diff.unfrozen:
            db.executemany(
                'UPDATE freeze SET "end" = ? WHERE txid = ? AND n = ?',
                [(diff.height, txid, n) for txid, n in diff.unfrozen],
            )
        if diff.txids:
            db.executemany(
                "INSERT OR REPLACE INTO txindex (txid, block, height) VALUES (?, ?, ?)",
                [(txid, block_hash, diff.height) for txid in diff.txids],
            )

    def _write_state(self, state: UtxoState, index: Sequence[tuple[bytes, bytes, int]]) -> None:
        db = self._db
        for table in ("coins", "issuances", "freeze", "txindex"):
            db.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
        db.executemany(
            "INSERT INTO coins VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [_coin_row(op, c) for op, c in state.coins.items()],
        )
        db.executemany(
            "INSERT INTO issuances (txid, vin, asset, token, entropy, reissuance, asset_amount,"
            " token_amount, height) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [_issuance_row(i) for i in state.issuances],
        )
        db.executemany(
            'INSERT INTO freeze (txid, n, asset, value, start, "end") VALUES (?, ?, ?, ?, ?, ?)',
            [(e.txid, e.vout, e.asset, e.value, e.start, e.end) for e in state.freeze.values()],
        )
        db.executemany("INSERT OR REPLACE INTO txindex VALUES (?, ?, ?)", index)

    def replace_state(
        self, state: UtxoState, index: Sequence[tuple[bytes, bytes, int]], tip: bytes
    ) -> None:
        """Replace the whole stored state (rebuilt from the blocks) in one transaction."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._write_state(state, index)
                self._db.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                    (STATE_TIP, tip.hex()),
                )
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._db.execute("ROLLBACK")
                raise OceanfedError(f"{self.path}: cannot store the chain state ({exc})") from None

    def load_state(self) -> tuple[UtxoState, bytes | None]:
        """The stored state and the hash of the block it is at (None: no state yet)."""
        state = UtxoState()
        with self._lock:
            db = self._db
            row = db.execute("SELECT value FROM meta WHERE key = ?", (STATE_TIP,)).fetchone()
            for txid, n, asset, value, script, height, cb, frozen in db.execute(
                "SELECT * FROM coins"
            ):
                state.add_coin(
                    (txid, n), Coin(asset, value, script, height, bool(cb), bool(frozen))
                )
            for r in db.execute(
                "SELECT txid, vin, asset, token, entropy, reissuance, asset_amount, token_amount,"
                " height FROM issuances ORDER BY seq"
            ):
                state.add_issuance(Issuance(r[0], r[1], r[2], r[3], r[4], bool(r[5]), *r[6:]))
            for txid, n, asset, value, start, end in db.execute(
                'SELECT txid, n, asset, value, start, "end" FROM freeze ORDER BY seq'
            ):
                state.freeze[(txid, n)] = FreezeEntry(txid, n, asset, value, start, end)
        return state, bytes.fromhex(row[0]) if row else None

    def tx_location(self, txid: bytes) -> tuple[bytes, int] | None:
        """``(block hash, height)`` of a main-chain transaction."""
        with self._lock:
            row = self._db.execute(
                "SELECT block, height FROM txindex WHERE txid = ?", (txid,)
            ).fetchone()
        return (row[0], row[1]) if row else None


def _coin_row(op: tuple[bytes, int], c: Coin) -> tuple[object, ...]:
    return (op[0], op[1], c.asset, c.value, c.script, c.height, int(c.coinbase), int(c.frozen))


def _issuance_row(i: Issuance) -> tuple[object, ...]:
    return (
        i.txid,
        i.vin,
        i.asset,
        i.token,
        i.entropy,
        int(i.is_reissuance),
        i.asset_amount,
        i.token_amount,
        i.height,
    )
