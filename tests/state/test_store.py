"""The state store keeps a step's flush small whatever the block size, and never forgets state."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from oceanfed.consensus.machine import HeightState, Lock, Valid
from oceanfed.statestore import MARKER, Owner, StateError, StateStore, inspect_state

ONE_MB = 1_000_000


def _row_bytes(state_dir: Path) -> int:
    db = sqlite3.connect(state_dir / "state.sqlite3")
    try:
        return int(db.execute("SELECT length(value) FROM state WHERE key = 'member'").fetchone()[0])
    finally:
        db.close()


def _blobs(state_dir: Path) -> list[tuple[int, str]]:
    db = sqlite3.connect(state_dir / "state.sqlite3")
    try:
        return list(db.execute("SELECT height, kind FROM blobs ORDER BY id"))
    finally:
        db.close()


def _height(height: int, block_bytes: int) -> HeightState:
    """A real height record (``HeightState.record``) holding a block of ``block_bytes``."""
    h = HeightState(height=height, parent="00" * 32, ready_at=0.0)
    block_hash = f"{height:064x}"
    h.blocks[block_hash] = SimpleNamespace(block_hex="ab" * block_bytes)  # type: ignore[assignment]
    h.proposal_frames[block_hash] = b"\x01" * 200 + b"\xab" * block_bytes
    h.locked, h.valid = Lock(block_hash, 0), Valid(block_hash, 0)
    return h


def _record(h: HeightState, signed_height: int) -> dict[str, Any]:
    return {"sign_state": {"height": signed_height, "block_hash": f"{signed_height:064x}",
                           "parent": None},
            "height_state": h.record()}


def test_a_step_with_a_1mb_block_writes_a_small_state_row(tmp_path: Path) -> None:
    state = tmp_path / "state"
    store = StateStore(state)
    h = _height(5, ONE_MB)
    record = _record(h, 4)
    assert len(json.dumps(record)) > 2 * ONE_MB  # the record the machine hands over is big
    store.save(record)
    for rnd in range(1, 6):
        h.round = rnd
        h.sent[(rnd, "prevote")] = h.locked[0] if h.locked else None
        record = _record(h, 4)
        store.save(record)
        assert _row_bytes(state) < 4_000  # each step rewrites only this, not the block
    assert len(_blobs(state)) == 2  # the block and its proposal frame, stored once each
    store.close()
    reopened = StateStore(state)
    assert reopened.load() == record  # joined back: the machine's record format is unchanged
    reopened.save(record)
    assert len(_blobs(state)) == 2  # a restart does not store them again
    # the next height: the old height's block and frame are pruned
    reopened.save(_record(_height(6, 2_000), 5))
    assert [height for height, _ in _blobs(state)] == [6, 6]
    reopened.close()


def test_a_record_with_more_keys_and_odd_maps_round_trips(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s")
    record = {"sign_state": {"height": 1, "block_hash": None, "parent": None}, "new": {"x": 1},
              "height_state": {"height": 2, "blocks": {"k": "aa" * 10}, "proposals": {"k": 7},
                               "later_field": [1, 2]}}
    store.save(record)
    assert store.load() == record
    store.close()


def test_a_rolled_back_save_keeps_the_blobs_consistent(tmp_path: Path) -> None:
    from oceanfed.statestore import SignStateViolation

    store = StateStore(tmp_path / "s")
    good = _record(_height(3, 1_000), 2)
    store.save(good)
    bad = _record(_height(4, 1_000), 2)
    bad["sign_state"]["block_hash"] = "ff" * 32  # a second block at height 2
    with pytest.raises(SignStateViolation):
        store.save(bad)
    assert store.load() == good
    store.save(good)
    store.close()
    assert StateStore(tmp_path / "s").load() == good


def test_a_database_without_a_marker_is_adopted(tmp_path: Path) -> None:
    """State written before markers existed: its owner is recorded, nothing is lost."""
    state = tmp_path / "s"
    store = StateStore(state)
    record = _record(_height(3, 100), 2)
    store.save(record)
    store.close()
    assert not (state / MARKER).exists()
    store = StateStore(state, Owner("c", "m0"), first_height=9)
    assert store.load() == record
    store.close()
    assert json.loads((state / MARKER).read_text())["member"] == "m0"


def test_another_members_state_is_refused(tmp_path: Path) -> None:
    StateStore(tmp_path / "s", Owner("c", "m0"), first_height=1).close()
    with pytest.raises(StateError, match="belongs to member 'm0'"):
        StateStore(tmp_path / "s", Owner("c", "m1"), first_height=1)


def test_a_deleted_state_row_with_signed_blocks_is_refused_without_a_marker(tmp_path: Path) -> None:
    state = tmp_path / "s"
    store = StateStore(state)
    store.save(_record(_height(3, 100), 2))
    store.close()
    db = sqlite3.connect(state / "state.sqlite3")
    db.execute("DELETE FROM state")
    db.commit()
    db.close()
    with pytest.raises(StateError, match="signed blocks up to height 2"):
        inspect_state(state)
    with pytest.raises(StateError, match="signed blocks up to height 2"):
        StateStore(state, Owner("c", "m0"))


def _wal_bytes(state_dir: Path) -> int:
    wal = state_dir / "state.sqlite3-wal"
    return wal.stat().st_size if wal.exists() else 0


def test_an_identical_save_writes_nothing_and_the_state_stays_restart_correct(tmp_path: Path) -> None:
    state = tmp_path / "s"
    store = StateStore(state)
    h = _height(3, 1_000)
    record = _record(h, 2)
    store.save(record)
    store.save(_record(h, 2))  # the machine builds a fresh, equal record: already on disk
    assert (store.saves, store.skipped) == (1, 1)
    wal = _wal_bytes(state)
    h.sent[(0, "prevote")] = f"{3:064x}"
    moved = _record(h, 2)
    store.save(moved)  # only the state row changed: written
    assert (store.saves, store.skipped) == (2, 1)
    assert _wal_bytes(state) > wal
    store.save(_record(h, 2))
    assert (store.saves, store.skipped) == (2, 2)
    assert store.load() == moved
    store.close()
    reopened = StateStore(state)
    assert reopened.load() == moved
    # a row read at start may not be flushed yet (killed between write and fsync): the first
    # save after a start writes, even an identical one
    reopened.save(_record(h, 2))
    assert (reopened.saves, reopened.skipped) == (1, 0)
    reopened.close()


def test_a_save_differing_only_in_a_frame_or_the_sign_state_is_written(tmp_path: Path) -> None:
    from oceanfed.statestore import SignStateViolation

    state = tmp_path / "s"
    store = StateStore(state)
    h = _height(3, 1_000)
    store.save(_record(h, 2))
    block_hash = f"{3:064x}"
    h.proposal_frames[block_hash] = b"\x02" * 200 + b"\xab" * 1_000  # another frame, same block
    reframed = _record(h, 2)
    store.save(reframed)
    signed = _record(h, 3)
    store.save(signed)
    assert (store.saves, store.skipped) == (3, 0)
    assert store.signed_blocks()[-1] == (3, f"{3:064x}")
    store.close()
    reopened = StateStore(state)
    assert reopened.load() == signed
    bad = _record(h, 3)
    bad["sign_state"]["block_hash"] = "ff" * 32  # a second block at the last signed height
    with pytest.raises(SignStateViolation):
        reopened.save(bad)
    assert reopened.load() == signed
    reopened.close()


def test_the_state_row_is_the_standard_compact_json(tmp_path: Path) -> None:
    """Older versions and the tools that read the row directly see the same text."""
    state = tmp_path / "s"
    store = StateStore(state)
    record = {"sign_state": {"height": 1, "block_hash": None, "parent": None},
              "height_state": {"height": 2, "round": 0, "sent": [[0, "prevote", None]],
                               "extras": {"k": {"n": 1.5, "big": 2**70, "s": "é\n"}}}}
    store.save(record)
    db = sqlite3.connect(state / "state.sqlite3")
    try:
        row = db.execute("SELECT value FROM state WHERE key = 'member'").fetchone()[0]
    finally:
        db.close()
    expected = {**record, "height_state": {**record["height_state"], "stored_refs": {}}}
    assert json.loads(row) == expected
    assert row.encode() == json.dumps(expected, separators=(",", ":"), ensure_ascii=False).encode()
    store.close()


def test_a_save_the_disk_refuses_is_one_clear_error_and_the_saved_state_stays(tmp_path: Path) -> None:
    """SQLite's page limit refuses a write as a full disk does (SQLITE_FULL)."""
    store = StateStore(tmp_path / "s")
    good = _record(_height(3, 1_000), 2)
    store.save(good)
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages}")
    bigger = _record(_height(4, 200_000), 3)
    with pytest.raises(StateError) as err:
        store.save(bigger)
    message = str(err.value)
    assert str(tmp_path / "s" / "state.sqlite3") in message and "full" in message, message
    assert "free space" in message and "state reset" not in message, message
    assert store.load() == good
    store._db.execute("PRAGMA max_page_count = 1073741823")
    store.save(bigger)  # space again: the same record is written whole
    store.close()
    assert StateStore(tmp_path / "s").load() == bigger
