"""Durable member state: the sign-state and the current height's votes and locks.

One SQLite database in WAL mode with ``synchronous=FULL``: each :meth:`StateStore.save` is a
single transaction, i.e. one flush to disk, done before the driver sends anything that
depends on it. An exclusive lock file keeps two processes from sharing one state directory
(two daemons with one key would defeat the sign-state rule).

The sign-state never silently resets. A member that has run keeps a marker file
(:data:`MARKER`, written once, atomically) next to its database, naming the chain, the member
and the first height it could sign. With the marker present, a missing, empty, unreadable or
malformed database is refused with one line; only ``oceanfed state reset`` starts afresh, and
it records a floor height at and below which the member never signs.

Blocks and proposal frames (the ``blocks`` and ``proposals`` maps of the height record) are
stored once each, in their own table, the first time a record needs them; the per-step
``state`` row keeps only their ids, so a step costs one small flush whatever the block size.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from pydantic_core import to_json

from oceanfed.atomicfile import write_atomic
from oceanfed.errors import ConfigError, OceanfedError

#: the database file inside the state directory
DB_NAME = "state.sqlite3"
#: the marker of a member that has run, next to the database
MARKER = "marker.json"
#: the height record's maps whose values (block hex, proposal frames) are stored by id
BLOB_MAPS = ("blocks", "proposals")
#: the key of the stored record's height state that holds those ids
REFS_KEY = "stored_refs"
#: the one statement that writes the state row
_UPSERT_STATE = ("INSERT INTO state (key, value) VALUES ('member', ?) "
                 "ON CONFLICT(key) DO UPDATE SET value = excluded.value")
_INSERT_SIGNED = ("INSERT INTO signed (height, block_hash, parent, recorded_at) "
                  "VALUES (?, ?, ?, ?) ON CONFLICT(height) DO NOTHING")
_INSERT_BLOB = "INSERT INTO blobs (id, height, kind, key, value) VALUES (?, ?, ?, ?, ?)"
_json_encode = json.JSONEncoder(separators=(",", ":")).encode

log = logging.getLogger(__name__)


def _encode(value: Any) -> str:
    """The state row's JSON, compact, by pydantic-core's encoder (about four times faster than
    the standard library's on a step's record): for a record (ASCII: hex, names, numbers) the
    same text as ``json.dumps(value, separators=(",", ":"))``; other characters are written
    as UTF-8 rather than escaped. Whatever it refuses gets the standard library's answer."""
    try:
        return to_json(value).decode()
    except (ValueError, TypeError):
        return _json_encode(value)


#: what to do about unusable state, appended to every refusal
REMEDY = (
    "restore the state directory from a backup, or start afresh deliberately with "
    "'oceanfed state reset --config FED.toml --from-height H' (docs/operations.md)"
)


class SignStateViolation(OceanfedError):
    """An attempt to record two different blocks at one height (never happens unless a bug)."""


class StateError(OceanfedError):
    """The state directory cannot be used as it is (missing, damaged or malformed state)."""


@dataclass(frozen=True)
class Owner:
    """Whose state a directory holds: written into the marker, checked on every start."""

    chain: str
    member: str


@dataclass
class StoredState:
    """What a state directory holds, validated (see :func:`inspect_state`)."""

    record: dict[str, Any] | None
    last_signed: tuple[int, str] | None
    marker: dict[str, Any] | None


def _take_lock(directory: Path, create: bool = True) -> IO[str]:
    try:
        if create:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock = open(directory / "lock", "a+")  # noqa: SIM115 - held for the store's lifetime
    except OSError as exc:
        raise ConfigError(f"member.state_dir: cannot use {directory} ({exc.strerror})") from None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.close()
        raise ConfigError(
            f"member.state_dir: {directory} is in use by another oceanfed process"
        ) from None
    return lock


def _release(lock: IO[str]) -> None:
    try:
        fcntl.flock(lock, fcntl.LOCK_UN)
    finally:
        lock.close()


def read_marker(directory: Path) -> dict[str, Any] | None:
    """The marker of a member that ran with ``directory``; None if there is none."""
    path = directory / MARKER
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(f"{path}: cannot read the state marker ({exc.strerror}); {REMEDY}") from None
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if (not isinstance(data, dict) or not isinstance(data.get("chain"), str)
            or not isinstance(data.get("member"), str)
            or not isinstance(data.get("first_height"), int)):
        raise StateError(f"{path}: not a valid state marker; {REMEDY}")
    return data


def write_marker(directory: Path, owner: Owner, first_height: int, **extra: Any) -> dict[str, Any]:
    """Write the marker atomically and durably (file and directory fsynced); returns it."""
    data = {"chain": owner.chain, "member": owner.member, "first_height": first_height,
            "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **extra}
    _put_marker(directory, data)
    return data


def _put_marker(directory: Path, data: dict[str, Any]) -> None:
    text = json.dumps(data, indent=1) + "\n"
    try:
        write_atomic(directory / MARKER, text.encode(), mode=0o600, replace=True)
    except OSError as exc:
        raise StateError(f"{directory / MARKER}: cannot write the state marker ({exc.strerror})") from None


def _check_owner(directory: Path, marker: dict[str, Any], owner: Owner) -> None:
    if (marker["chain"], marker["member"]) != (owner.chain, owner.member):
        raise StateError(
            f"{directory / MARKER}: this state belongs to member {marker['member']!r} on chain "
            f"{marker['chain']!r}, not member {owner.member!r} on chain {owner.chain!r}; "
            "point member.state_dir at this member's own state"
        )


def _bad(path: Path, what: str) -> StateError:
    return StateError(f"{path}: {what}; {REMEDY}")


#: SQLite's answers for a disk that refuses a write (full, read-only, failing), as against a
#: damaged database: the state already in the file is intact
_DISK_REFUSED = ("SQLITE_FULL", "SQLITE_READONLY", "SQLITE_IOERR", "SQLITE_CANTOPEN", "SQLITE_PERM")


def _unwritable(path: Path, exc: sqlite3.Error | OSError, doing: str) -> StateError:
    """The error for a write that failed: what to do depends on whether the disk refused
    it (free space, make it writable) or the database is damaged (see :data:`REMEDY`)."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if isinstance(exc, OSError) or name.startswith(_DISK_REFUSED):
        return StateError(f"{path}: cannot write the state database ({exc}); {doing}: the state "
                          "saved before is intact: free space on its disk, or make it writable, "
                          "and start again")
    return _bad(path, f"cannot write the state database ({exc})")


def _validate_record(path: Path, record: Any) -> dict[str, Any]:
    ss = record.get("sign_state") if isinstance(record, dict) else None
    if (not isinstance(ss, dict) or type(ss.get("height")) is not int
            or not isinstance(ss.get("block_hash"), (str, type(None)))):
        raise _bad(path, "the state row holds no valid sign_state")
    if not isinstance(record.get("height_state"), (dict, type(None))):
        raise _bad(path, "the state row's height_state is not an object")
    assert isinstance(record, dict)
    return record


def _read_db(db: sqlite3.Connection, path: Path) -> tuple[dict[str, Any] | None, tuple[int, str] | None]:
    """The validated record (blobs joined back) and the last signed block; raises StateError."""
    try:
        check = db.execute("PRAGMA quick_check").fetchall()
        if [tuple(r) for r in check] != [("ok",)]:
            raise _bad(path, f"damaged database ({check[0][0]})")
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        last = None
        if "signed" in tables:
            row = db.execute("SELECT height, block_hash FROM signed ORDER BY height DESC LIMIT 1").fetchone()
            last = (int(row[0]), str(row[1])) if row else None
        row = db.execute("SELECT value FROM state WHERE key = 'member'").fetchone() \
            if "state" in tables else None
        if row is None:
            return None, last
        try:
            record = _validate_record(path, json.loads(row[0]))
        except (ValueError, TypeError):
            raise _bad(path, "the state row is not valid JSON") from None
        _join_blobs(db, path, record, tables)
    except sqlite3.Error as exc:
        raise _bad(path, f"not a readable state database ({exc})") from None
    ss = record["sign_state"]
    if last is not None and last[0] > ss["height"]:
        raise _bad(path, f"its sign-state (height {ss['height']}) is below the last block it "
                         f"signed (height {last[0]})")
    return record, last


def _join_blobs(db: sqlite3.Connection, path: Path, record: dict[str, Any], tables: set[str]) -> None:
    hs = record.get("height_state")
    if not isinstance(hs, dict) or REFS_KEY not in hs:
        return
    refs = hs.pop(REFS_KEY)
    if not isinstance(refs, dict) or "blobs" not in tables:
        raise _bad(path, "the state row refers to stored blocks the database does not have")
    for kind, ids in refs.items():
        if kind not in BLOB_MAPS or not isinstance(ids, dict):
            raise _bad(path, f"the state row has a bad reference map {kind!r}")
        joined = {}
        for key, blob_id in ids.items():
            row = db.execute("SELECT value FROM blobs WHERE id = ?", (blob_id,)).fetchone()
            if row is None:
                raise _bad(path, f"stored {kind} entry {key} (id {blob_id}) is missing")
            joined[key] = row[0]
        hs[kind] = joined


def _judge(directory: Path, marker: dict[str, Any] | None, db_exists: bool,
           record: dict[str, Any] | None, last: tuple[int, str] | None) -> None:
    """Refuse state that was lost: the marker (or a signed block) says this member ran."""
    db_path = directory / DB_NAME
    if marker is not None and not db_exists:
        raise _bad(db_path, f"missing, but {directory / MARKER} says member {marker['member']} "
                            f"ran here (from height {marker['first_height']})")
    if record is None and marker is not None:
        raise _bad(db_path, "holds no sign-state (empty, or its state row was deleted), but "
                            f"{directory / MARKER} says member {marker['member']} ran here "
                            f"(from height {marker['first_height']})")
    if record is None and last is not None:
        raise _bad(db_path, "holds no sign-state (its state row was deleted), but it has signed "
                            f"blocks up to height {last[0]}")


def inspect_state(state_dir: str | os.PathLike[str], owner: Owner | None = None) -> StoredState | None:
    """Read a state directory without locking it, exactly as ``run`` judges it.

    None when the member never ran here (no marker, no database); :class:`StateError` with
    one line when ``run`` would refuse the state (``owner``: whose it must be).
    """
    directory = Path(state_dir)
    marker = read_marker(directory)
    if marker is not None and owner is not None:
        _check_owner(directory, marker, owner)
    path = directory / DB_NAME
    if not path.exists():
        _judge(directory, marker, False, None, None)
        return None
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2)
    except sqlite3.Error as exc:
        raise _bad(path, f"cannot open the state database ({exc})") from None
    try:
        record, last = _read_db(db, path)
    finally:
        db.close()
    _judge(directory, marker, True, record, last)
    if record is None and marker is None:
        return None
    return StoredState(record, last, marker)


class StateStore:
    """The member's durable state in ``state_dir``, locked for this process.

    With ``owner`` (as ``run`` opens it), the marker is checked, or written on a first start
    together with an initial record (sign-state height ``-1``); lost or damaged state raises
    :class:`StateError`. Without ``owner`` (tests, benchmarks) no marker is involved, but a
    damaged database is refused all the same.
    """

    def __init__(self, state_dir: str | os.PathLike[str], owner: Owner | None = None,
                 first_height: int = 0):
        self.dir = Path(state_dir)
        #: saves that wrote (and flushed), and saves skipped as identical to the last one
        self.saves = 0
        self.skipped = 0
        #: the state row as this process's last save wrote and flushed it. Not primed from
        #: the database at start: a row read there may still wait for its flush (a process
        #: killed between its write and its fsync), so the first save always writes.
        self._text: str | None = None
        #: the stored blobs, by map and key: (value, id); every stored blob is in it
        self._blob_cache: dict[str, dict[str, tuple[str, int]]] = {}
        #: the (height, block hash) known to be in ``signed``: saving it again writes nothing there
        self._signed: tuple[int, str] | None = None
        #: the id the next stored blob gets
        self._next_id = 1
        #: how often the state was found removed or replaced on disk and written back
        self.written_back = 0
        #: the marker this member runs under (None without an owner), kept to write it back
        self._marker: dict[str, Any] | None = None
        self._path = str(self.dir / DB_NAME)
        #: (device, inode) of the database file this store writes, and of its marker
        self._ident: tuple[int, int] = (0, 0)
        self._marker_ident: tuple[int, int] = (0, 0)
        self._lock = _take_lock(self.dir)
        try:
            self._db = self._open(owner, first_height)
        except BaseException:
            _release(self._lock)
            raise

    def _open(self, owner: Owner | None, first_height: int) -> sqlite3.Connection:
        marker = read_marker(self.dir)
        if marker is not None and owner is not None:
            _check_owner(self.dir, marker, owner)
            self._marker = marker
        path = self.dir / DB_NAME
        db_exists = path.exists()
        if marker is not None and not db_exists:
            _judge(self.dir, marker, False, None, None)
        try:
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise _bad(path, f"cannot open the state database ({exc})") from None
        try:
            record, last = _read_db(db, path)
            _judge(self.dir, marker, db_exists, record, last)
            try:
                _configure(db)
                db.execute("CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
                # an append-only audit of every block this member agreed to sign: one per height
                db.execute(
                    "CREATE TABLE IF NOT EXISTS signed (height INTEGER PRIMARY KEY, "
                    "block_hash TEXT NOT NULL, parent TEXT, recorded_at REAL NOT NULL)"
                )
                # blocks and proposal frames of the current height, stored once each
                db.execute("CREATE TABLE IF NOT EXISTS blobs (id INTEGER PRIMARY KEY, "
                           "height INTEGER, kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL)")
            except sqlite3.Error as exc:
                raise _unwritable(path, exc, "not started") from None
            self._db = db
            self._cur = db.cursor()
            self._ident = _ident(os.stat(path))
            self._signed = last
            self._next_id = 1 + db.execute("SELECT coalesce(max(id), 0) FROM blobs").fetchone()[0]
            if record is not None:
                self._remember(record)
            if owner is not None and marker is None:
                if record is None:  # a first start: the row first, so the marker never lies
                    self.save(initial_record(-1))
                self._marker = write_marker(self.dir, owner, first_height)
            if self._marker is not None:
                self._marker_ident = _ident_of(self.dir / MARKER)
        except BaseException:
            db.close()
            raise
        return db

    def _remember(self, record: dict[str, Any]) -> None:
        """Prime the blob cache from a loaded record, so the next save stores nothing again."""
        row = self._db.execute("SELECT value FROM state WHERE key = 'member'").fetchone()
        stored = json.loads(row[0]).get("height_state") if row else None
        refs = stored.get(REFS_KEY) if isinstance(stored, dict) else None
        hs = record.get("height_state") or {}
        for kind, ids in (refs or {}).items():
            self._blob_cache[kind] = {key: (hs[kind][key], blob_id) for key, blob_id in ids.items()}

    def load(self) -> dict[str, Any] | None:
        """The saved record as :meth:`save` was given it; None before the first save."""
        record, _ = _read_db(self._db, self.dir / DB_NAME)
        return record

    def save(self, record: dict[str, Any]) -> None:
        """Write ``record`` durably (one transaction, flushed) before returning; see
        :meth:`_save`. A write the disk refuses (full, failing) raises :class:`StateError`
        naming the file: nothing that depends on the record may leave the process, so the
        member stops, with its last saved state intact."""
        if _ident_of(self._path) != self._ident:
            self.ensure_in_place()
        try:
            self._save(record)
        except (sqlite3.Error, OSError) as exc:
            raise _unwritable(self.dir / DB_NAME, exc, "stopping, as nothing may be signed or "
                              "sent before its state is on disk") from None

    def _save(self, record: dict[str, Any]) -> None:
        """Write ``record`` durably (one transaction, flushed) before returning.

        A sign-state in the record is also appended to the ``signed`` audit table; a second,
        different block at a height already there raises :class:`SignStateViolation` and
        nothing is written. Blocks and proposal frames not stored yet are stored once; those
        no longer referenced are deleted (old heights are pruned).

        A save that changes only the state row (most steps: the sign-state already in
        ``signed``, no block or frame to store or prune) is that one statement, committed
        and flushed on its own: SQLite makes a single statement its own transaction. A save
        that would write nothing new (the same row, blocks, frames and sign-state as the
        last save, which returned only once they were flushed) writes nothing.
        """
        ss = record.get("sign_state") or {}
        signed = (ss["height"], ss["block_hash"]) if ss.get("block_hash") else None
        small, cache, fresh, pruned = self._split(record)
        text = _encode(small)
        cur = self._cur
        if (signed is None or signed == self._signed) and not fresh and not pruned:
            if text == self._text:  # already on disk, exactly: nothing to write
                self.skipped += 1
                return
            cur.execute(_UPSERT_STATE, (text,))
        else:
            cur.execute("BEGIN")  # the directory lock keeps other writers out: no lock to take early
            try:
                if signed is not None and signed != self._signed:
                    cur.execute(_INSERT_SIGNED, (signed[0], signed[1], ss.get("parent"), time.time()))
                    if cur.rowcount != 1:  # the height was there already: the same block?
                        row = cur.execute("SELECT block_hash FROM signed WHERE height = ?",
                                          (signed[0],)).fetchone()
                        if row[0] != signed[1]:
                            raise SignStateViolation(
                                f"refusing to record a second block at height {signed[0]}: "
                                f"{signed[1]} after {row[0]}"
                            )
                if 0 < len(fresh) <= 8:  # a height keeps at most four blocks and their frames
                    cur.execute(_INSERT_BLOB + ",(?,?,?,?,?)" * (len(fresh) - 1),
                                [v for row in fresh for v in row])
                elif fresh:
                    cur.executemany(_INSERT_BLOB, fresh)
                if pruned:
                    ids = tuple(blob_id for known in cache.values() for _, blob_id in known.values())
                    marks = ",".join("?" * len(ids))
                    cur.execute(f"DELETE FROM blobs WHERE id NOT IN ({marks})", ids)  # noqa: S608
                cur.execute(_UPSERT_STATE, (text,))
                cur.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    cur.execute("ROLLBACK")
                raise
        self._blob_cache, self._text = cache, text
        if fresh:
            self._next_id = fresh[-1][0] + 1
        if signed is not None:
            self._signed = signed
        self.saves += 1

    def _split(self, record: dict[str, Any]) -> tuple[
            dict[str, Any], dict[str, dict[str, tuple[str, int]]],
            list[tuple[int, Any, str, str, str]], bool]:
        """The record to store (blob maps replaced by ids), the new blob cache, the blob rows
        to insert (those not stored yet, with their new ids), and whether a stored blob is
        no longer referenced (to delete). Touches no database.

        A value is known when it is the cached string itself (the machine hands the same
        string objects from step to step) or equal to it."""
        hs = record.get("height_state")
        known = self._blob_cache
        if not isinstance(hs, dict):
            return record, {}, [], any(known.values())
        small = dict(hs)
        refs: dict[str, dict[str, int]] = {}
        cache: dict[str, dict[str, tuple[str, int]]] = {}
        fresh: list[tuple[int, Any, str, str, str]] = []
        next_id = self._next_id
        kept = 0
        for kind in BLOB_MAPS:
            values = small.get(kind)
            if not isinstance(values, dict):
                continue  # not what the store knows how to split: kept as it is
            old_kind = known.get(kind) or {}
            ref: dict[str, int] = {}
            new_kind: dict[str, tuple[str, int]] = {}
            new_rows: list[tuple[int, Any, str, str, str]] = []
            for key, value in values.items():
                if type(key) is not str or type(value) is not str:
                    break
                old = old_kind.get(key)
                if old is not None and (old[0] is value or old[0] == value):
                    new_kind[key] = old
                    ref[key] = old[1]
                    kept += 1
                else:
                    new_kind[key] = (value, next_id)
                    ref[key] = next_id
                    new_rows.append((next_id, hs.get("height"), kind, key, value))
                    next_id += 1
            else:
                del small[kind]
                refs[kind] = ref
                cache[kind] = new_kind
                fresh.extend(new_rows)
                continue
            next_id -= len(new_rows)  # a key or value not a string: the map is kept as it is
        small[REFS_KEY] = refs
        pruned = kept != sum(len(v) for v in known.values())
        return {**record, "height_state": small}, cache, fresh, pruned

    def ensure_in_place(self) -> None:
        """Write the state back if its directory, database, marker or lock file was removed
        or replaced while the member runs (a cleaner of temporary directories, a mistaken
        ``rm``, an old copy restored over it): the open database still holds it all, and a
        member stopped with its state gone would start afresh. :meth:`save` checks the
        database each time; the driver calls this every half second. Raises
        :class:`StateError` if the state cannot be written back."""
        try:
            missing = self._missing()
            if missing:
                log.error("%s: %s removed or replaced while running; writing the state back "
                          "from the open database (find what removes files there)",
                          self.dir, " and ".join(missing))
                self._write_back(missing)
                log.warning("%s: the state is back on disk, up to the last save", self.dir)
        except (sqlite3.Error, OSError) as exc:
            raise StateError(
                f"{self.dir}: the state was removed while running and cannot be written back "
                f"({exc}); stopping. Restore the directory from a backup before starting this "
                "member again: started afresh, it could sign against what it signed before"
            ) from None

    def _missing(self) -> list[str]:
        """The files of the state that are not the ones this store holds."""
        missing = []
        if _ident_of(self._path) != self._ident:
            missing.append(DB_NAME)
        if self._marker is not None and _ident_of(self.dir / MARKER) != self._marker_ident:
            missing.append(MARKER)
        if _ident_of(self.dir / "lock") != _ident(os.fstat(self._lock.fileno())):
            missing.append("lock")
        return missing

    def _write_back(self, missing: list[str]) -> None:
        """Put the lock, the marker and the database back on disk from what this process
        holds, then write to the new database. The marker goes before the database: should
        the database fail to follow, a start refuses the directory rather than start afresh."""
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if "lock" in missing:
            lock = _take_lock(self.dir)  # refuses if another process took the directory meanwhile
            _release(self._lock)
            self._lock = lock
        if MARKER in missing:
            assert self._marker is not None  # only missing when there is one
            _put_marker(self.dir, self._marker)
            self._marker_ident = _ident_of(self.dir / MARKER)
        if DB_NAME in missing:
            self._copy_database_back()
        self.written_back += 1

    def _copy_database_back(self) -> None:
        path = Path(self._path)
        tmp = self.dir / f"{DB_NAME}.restore"
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        copy = sqlite3.connect(tmp)
        try:
            self._db.backup(copy)
            _configure(copy)
        finally:
            copy.close()
        _fsync(tmp)
        self._db.close()
        for stale in ("-wal", "-shm"):  # of the file that was put there, if any: never ours now
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._path + stale)
        os.replace(tmp, path)
        _fsync(self.dir)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        _configure(self._db)
        self._cur = self._db.cursor()
        self._ident = _ident_of(path)

    def signed_blocks(self) -> list[tuple[int, str]]:
        """Every (height, block hash) this member has agreed to sign, in height order."""
        return [(h, b) for h, b in self._db.execute("SELECT height, block_hash FROM signed ORDER BY height")]

    def close(self) -> None:
        self._db.close()
        _release(self._lock)


def _configure(db: sqlite3.Connection) -> None:
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _ident(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def _ident_of(path: str | Path) -> tuple[int, int]:
    """(device, inode) of ``path``; (0, 0) if there is none (or it cannot be looked at)."""
    try:
        return _ident(os.stat(path))
    except OSError:
        return 0, 0


def initial_record(floor: int) -> dict[str, Any]:
    """A record with nothing signed above ``floor`` (sign-state at ``floor``, no block)."""
    return {"sign_state": {"height": floor, "block_hash": None, "parent": None}, "height_state": None}


@dataclass
class ResetReport:
    """What :func:`reset_state` did."""

    floor: int
    kept: list[Path]
    old_error: str | None


def reset_state(state_dir: str | os.PathLike[str], owner: Owner, floor: int) -> ResetReport:
    """Start the state afresh, deliberately: the member signs nothing at or below ``floor``.

    Refuses (ConfigError) while a member holds the lock, and holds it throughout. A readable
    old state raises the floor to its own sign-state and last signed height. The new database
    is made beside the old one and moved into place; the old files are kept, renamed, never
    deleted; the marker is rewritten last. A crash at any point leaves either the old state,
    refused state (no database beside the marker), or the new one: never a silent fresh start.
    """
    directory = Path(state_dir)
    lock = _take_lock(directory)
    try:
        old_error = None
        try:
            old = inspect_state(directory)
        except StateError as exc:
            old, old_error = None, str(exc)
        if old is not None and old.record is not None:
            floor = max(floor, old.record["sign_state"]["height"])
        if old is not None and old.last_signed is not None:
            floor = max(floor, old.last_signed[0])
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        fresh = directory / f".reset-{stamp}"
        try:
            fresh.mkdir(mode=0o700)
            store = StateStore(fresh)
            try:
                store.save(initial_record(floor))
            finally:
                store.close()
            kept = []
            base = directory / DB_NAME
            aside = directory / f"{DB_NAME}.before-reset-{stamp}"
            for suffix in ("", "-wal", "-shm", "-journal"):
                src = Path(f"{base}{suffix}")
                if src.exists():
                    dst = Path(f"{aside}{suffix}")
                    os.replace(src, dst)
                    kept.append(dst)
            os.replace(fresh / DB_NAME, base)
            for leftover in fresh.iterdir():
                leftover.unlink()
            fresh.rmdir()
        except OSError as exc:
            raise StateError(f"{directory}: cannot reset the state ({exc.strerror})") from None
        write_marker(directory, owner, floor + 1, reset_floor=floor)  # fsyncs the directory too
    finally:
        _release(lock)
    return ResetReport(floor, kept, old_error)


def write_json_atomic(path: str | os.PathLike[str], data: Any) -> None:
    """Write JSON to ``path`` atomically (readers never see half), without the directory fsync.

    For ``status.json`` only, which is not state: the member's loop rewrites it four times a
    second, and the directory fsync would add about 10 ms to each write there. Durable state
    goes through :class:`StateStore` or :func:`~oceanfed.atomicfile.write_atomic`.
    """
    payload = json.dumps(data, separators=(",", ":")).encode("utf-8")
    write_atomic(Path(path), payload, mode=0o644, replace=True, durable_dir=False)
