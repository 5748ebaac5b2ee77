"""Durable storage of the devnet chain in SQLite (WAL, ``synchronous=FULL``).

Every block, main chain or side branch, is kept in ``blocks``; ``main_chain`` maps heights
to the hashes of the active chain. A block (and any reorganisation it causes) is applied in
one transaction, so each accepted block costs one WAL flush.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from oceanfed.errors import OceanfedError

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
"""


class ChainStore:
    """The chain database of one devnet; safe to share between threads."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
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
    ) -> None:
        """Store a block and, in the same transaction, update the active chain.

        ``truncate_above`` drops main-chain entries above that height (a reorganisation);
        ``new_main`` are the ``(height, hash)`` entries to set.
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
