"""State removed from disk while the member runs is written back, never forgotten.

SQLite writes on to an unlinked database, so a member whose state directory was removed
(a cleaner of temporary directories, a mistaken ``rm``) signed on with nothing on disk, and
once stopped it started afresh, its marker gone too: its record of what it signed was lost.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from oceanfed.audit import audit_chain
from oceanfed.statestore import MARKER, Owner, StateError, StateStore, inspect_state
from oceanfed_devnet.launcher import LocalFederation
from testsupport.federation import fast_rounds, verify_chain
from testsupport.metrics import http_get, serve_metrics
from testsupport.waiting import wait_until

OWNER = Owner("ocean_test", "m0")


def _remove_under_running_member(state: Path) -> None:
    """Remove a running member's state directory in one step, as far as the member sees it.

    ``shutil.rmtree`` alone races the member: between emptying the directory and removing it,
    the member may already have noticed its files gone and written them back there, and the
    final ``rmdir`` fails (ENOTEMPTY). Renamed aside first, the directory is gone from its path
    at once; it is then deleted where the member no longer looks."""
    aside = state.with_name(state.name + ".removed")
    state.rename(aside)
    shutil.rmtree(aside)


def _record(height: int) -> dict[str, Any]:
    return {"sign_state": {"height": height, "block_hash": f"{height:064x}", "parent": None},
            "height_state": {"height": height + 1, "round": 0, "blocks": {"ab" * 32: "cd" * 100},
                             "proposals": {}}}


def _signed_on_disk(state: Path) -> list[int]:
    db = sqlite3.connect(f"file:{state / 'state.sqlite3'}?mode=ro", uri=True)
    try:
        return [h for (h,) in db.execute("SELECT height FROM signed ORDER BY height")]
    finally:
        db.close()


@pytest.fixture
def store(tmp_path: Path) -> Any:
    s = StateStore(tmp_path / "state", OWNER, first_height=1)
    for h in range(1, 4):
        s.save(_record(h))
    yield s
    s.close()


def test_a_removed_directory_is_written_back_at_the_next_save(
        store: StateStore, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    state = tmp_path / "state"
    marker = (state / MARKER).read_bytes()
    shutil.rmtree(state)
    with caplog.at_level(logging.WARNING, logger="oceanfed.statestore"):
        store.save(_record(4))
    assert (state / MARKER).read_bytes() == marker  # the same first height, not a new start
    assert _signed_on_disk(state) == [1, 2, 3, 4]
    found = inspect_state(state, OWNER)
    assert found is not None and found.record == _record(4) and found.last_signed == (4, f"{4:064x}")
    assert store.written_back == 1
    assert [r.levelname for r in caplog.records] == ["ERROR", "WARNING"]
    assert caplog.records[0].getMessage().startswith(
        f"{state}: state.sqlite3 and marker.json and lock removed or replaced while running")
    store.save(_record(5))  # and it goes on writing to the file on disk
    assert _signed_on_disk(state) == [1, 2, 3, 4, 5] and store.written_back == 1


def test_a_directory_replaced_by_an_old_copy_is_overwritten_with_the_state_held(
        store: StateStore, tmp_path: Path) -> None:
    """An old copy of another state put in its place, its write-ahead log and marker too:
    the member's own state replaces it whole (a stale log applied to it would corrupt it)."""
    state, old = tmp_path / "state", tmp_path / "old"
    other = StateStore(old, Owner("ocean_test", "m0"), first_height=7)
    other._db.execute("PRAGMA wal_autocheckpoint=0")
    for h in range(7, 10):
        other.save(_record(h))
    copy = tmp_path / "copy"
    shutil.copytree(old, copy)  # while open: its write-ahead log holds the saves
    other.close()
    assert (copy / "state.sqlite3-wal").stat().st_size > 0
    marker = (state / MARKER).read_bytes()
    shutil.rmtree(state)
    shutil.copytree(copy, state)
    store.save(_record(4))
    assert (state / MARKER).read_bytes() == marker
    found = inspect_state(state, OWNER)
    assert found is not None and found.record == _record(4)
    assert _signed_on_disk(state) == [1, 2, 3, 4]
    assert store.written_back == 1


def test_a_removed_lock_is_taken_again_so_a_second_process_is_still_refused(
        store: StateStore, tmp_path: Path) -> None:
    state = tmp_path / "state"
    os.unlink(state / "lock")
    store.ensure_in_place()
    with pytest.raises(Exception, match="in use by another oceanfed process"):
        StateStore(state, OWNER)
    assert store.written_back == 1


def test_a_removed_marker_is_written_back(store: StateStore, tmp_path: Path) -> None:
    state = tmp_path / "state"
    marker = (state / MARKER).read_bytes()
    os.unlink(state / MARKER)
    store.ensure_in_place()
    assert (state / MARKER).read_bytes() == marker


def test_nothing_is_written_while_everything_is_in_place(store: StateStore, tmp_path: Path) -> None:
    inode = os.stat(tmp_path / "state" / "state.sqlite3").st_ino
    store.ensure_in_place()
    store.save(_record(4))
    assert store.written_back == 0 and os.stat(tmp_path / "state" / "state.sqlite3").st_ino == inode


def test_state_that_cannot_be_written_back_stops_with_one_line_and_is_never_started_afresh(
        store: StateStore, tmp_path: Path) -> None:
    state = tmp_path / "state"
    shutil.rmtree(state)
    state.write_text("a file where the directory was")
    with pytest.raises(StateError) as err:
        store.save(_record(4))
    assert str(err.value).startswith(f"{state}: the state was removed while running and cannot "
                                     "be written back")
    assert "Restore the directory from a backup" in str(err.value)
    # the marker goes back first: a database that failed to follow is refused, not started afresh
    state.unlink()
    state.mkdir()
    (state / "state.sqlite3.restore").mkdir()  # where the copy goes: it fails after the marker
    with pytest.raises(StateError):
        store.ensure_in_place()
    assert (state / MARKER).exists()
    with pytest.raises(StateError, match="missing, but .* says member m0 ran here"):
        inspect_state(state, OWNER)


@pytest.mark.slow
def test_a_member_whose_state_directory_is_removed_keeps_its_record(tmp_path: Path) -> None:
    """The directory removed under a running 2-of-3 member: it writes its state back, signs
    on, and after a restart still holds every block it signed (it used to start afresh)."""
    fed = LocalFederation(tmp_path / "fed", 3, 2, block_time=0.2, rounds=fast_rounds(0.25))
    with fed:
        port = serve_metrics(fed, unhealthy_after=30)["m0"]
        fed.start()
        wait_until(lambda: len(fed.signed("m0")) >= 3, timeout=60, what="m0 to sign blocks")
        state = fed.state_dirs["m0"]
        marker = (state / MARKER).read_bytes()
        before = fed.signed("m0")
        _remove_under_running_member(state)
        wait_until(lambda: (state / "state.sqlite3").exists() and (state / MARKER).exists(),
                   timeout=30, what="m0 to write its state back")
        wait_until(lambda: max(fed.signed("m0")) > max(before) + 2, timeout=60,
                   what="m0 to sign on")
        # counted where operators look: /metrics and status.json
        assert "oceanfed_state_written_back_total 1.0" in http_get(f"http://127.0.0.1:{port}/metrics")[1]
        wait_until(lambda: (fed.status("m0") or {}).get("state_written_back") == 1, timeout=10,
                   what="status.json to count the write-back")
        assert fed.stop("m0") == 0, fed.log_tail("m0")
        fed.start_member("m0")
        top = max(fed.signed("m0"))
        wait_until(lambda: max(fed.signed("m0")) > top + 2, timeout=60, what="m0 to sign after restart")
        assert (state / MARKER).read_bytes() == marker
        after = fed.signed("m0")
        assert all(after[h] == block for h, block in before.items())  # nothing forgotten
        log = (Path(fed.dir) / "logs" / "m0.log").read_text()
        assert "removed or replaced while running; writing the state back" in log
        assert "Traceback" not in log
        for name in fed.members:
            assert fed.stop(name) == 0, fed.log_tail(name)
        blocks = verify_chain(fed)
        tables = {name: fed.signed(name) for name in fed.members}
        assert audit_chain([b.header for b in blocks], fed.layout.threshold, tables, fed.members) == []


@pytest.mark.slow
def test_an_idle_member_writes_its_state_back_within_a_second(tmp_path: Path) -> None:
    """No save comes while a member waits out a long block time: the loop's own check finds
    the directory gone and writes it back."""
    fed = LocalFederation(tmp_path / "fed", 3, 2, block_time=3600)
    with fed:
        fed.start(["m0"])
        state = fed.state_dirs["m0"]
        wait_until(lambda: (fed.status("m0") or {}).get("running") is True, timeout=60,
                   what="m0 to run")
        marker = (state / MARKER).read_bytes()
        _remove_under_running_member(state)
        wait_until(lambda: (state / MARKER).exists() and (state / "state.sqlite3").exists(),
                   timeout=10, what="m0 to write its state back")
        assert (state / MARKER).read_bytes() == marker
        assert inspect_state(state, OWNER) is not None
        assert fed.stop("m0") == 0, fed.log_tail("m0")
