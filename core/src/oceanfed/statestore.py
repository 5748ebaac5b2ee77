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
from pathlib import Path
from typing import Any

from oceanfed.errors import ConfigError


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
        self.saves = 0

    def load(self) -> dict[str, Any] | None:
        row = self._db.execute("SELECT value FROM state WHERE key = 'member'").fetchone()
        return json.loads(row[0]) if row else None

    def save(self, record: dict[str, Any]) -> None:
        """Write ``record`` durably (one transaction, flushed) before returning."""
        self._db.execute(
            "INSERT INTO state (key, value) VALUES ('member', ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (json.dumps(record, separators=(",", ":")),),
        )
        self.saves += 1

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
