"""Durable member state: the sign-state and the current height's votes and locks.

One SQLite database in WAL mode with ``synchronous=FULL``: each :meth:`StateStore.save` is a
single transaction, i.e. one flush to disk, done before the driver sends anything that
depends on it. An exclusive lock file keeps two processes from sharing one state directory
(two daemons with one key would defeat the sign-state rule).
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from oceanfed.errors import ConfigError, OceanfedError


class SignStateViolation(OceanfedError):
    """An attempt to record two different blocks at one height (never happens unless a bug)."""


class StateStore:
    def __init__(self, state_dir: str | os.PathLike[str]):
        self.dir = Path(state_dir)
        try:
            self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._lock = open(self.dir / "lock", "a+")  # noqa: SIM115 - held for our lifetime
        except OSError as exc:
            raise ConfigError(f"member.state_dir: cannot use {self.dir} ({exc.strerror})") from None
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock.close()
            raise ConfigError(
                f"member.state_dir: {self.dir} is in use by another oceanfed process"
            ) from None
        self._db = sqlite3.connect(self.dir / "state.sqlite3", isolation_level=None,
                                   check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        # an append-only audit of every block this member agreed to sign: one block per height
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS signed (height INTEGER PRIMARY KEY, block_hash TEXT NOT NULL, "
            "parent TEXT, recorded_at REAL NOT NULL)"
        )
        self.saves = 0

    def load(self) -> dict[str, Any] | None:
        row = self._db.execute("SELECT value FROM state WHERE key = 'member'").fetchone()
        return json.loads(row[0]) if row else None

    def save(self, record: dict[str, Any]) -> None:
        """Write ``record`` durably (one transaction, flushed) before returning.

        A sign-state in the record is also appended to the ``signed`` audit table; a second,
        different block at a height already there raises :class:`SignStateViolation` and
        nothing is written.
        """
        ss = record.get("sign_state") or {}
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            if ss.get("block_hash"):
                db.execute(
                    "INSERT INTO signed (height, block_hash, parent, recorded_at) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT(height) DO NOTHING",
                    (ss["height"], ss["block_hash"], ss.get("parent"), time.time()),
                )
                row = db.execute("SELECT block_hash FROM signed WHERE height = ?", (ss["height"],)).fetchone()
                if row[0] != ss["block_hash"]:
                    raise SignStateViolation(
                        f"refusing to record a second block at height {ss['height']}: "
                        f"{ss['block_hash']} after {row[0]}"
                    )
            db.execute(
                "INSERT INTO state (key, value) VALUES ('member', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (json.dumps(record, separators=(",", ":")),),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self.saves += 1

    def signed_blocks(self) -> list[tuple[int, str]]:
        """Every (height, block hash) this member has agreed to sign, in height order."""
        return [(h, b) for h, b in self._db.execute("SELECT height, block_hash FROM signed ORDER BY height")]

    def close(self) -> None:
        self._db.close()
        try:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
        finally:
            self._lock.close()


def write_json_atomic(path: str | os.PathLike[str], data: Any) -> None:
    """Write JSON to ``path`` atomically: temp file, fsync, rename (readers never see half)."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp")
    with open(tmp, "w") as fh:
        json.dump(data, fh, separators=(",", ":"))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target)
