"""Lost or damaged sign-state, through the real CLI: ``run`` refuses it with one line (never a
fresh start), ``status`` and ``check`` say the same, and ``state reset`` is the only way to
start afresh, above a floor height the chain already has."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from oceanfed.statestore import StateStore
from oceanfed_devnet.launcher import LocalFederation
from testsupport.cli import oceanfed

MARKER = "marker.json"  # written beside the database by a member that ran
KEEP = ("fed.toml", "block.key", "transport.key", "rpc.password")


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    """A 2-of-3 that made a few blocks, members stopped (the devnet keeps serving)."""
    f = LocalFederation(tmp_path_factory.mktemp("state") / "fed", 3, 2, block_time=0.2)
    try:
        f.start()
        assert f.wait_height(4, timeout=90) >= 4, f.log_tail("m0")
        for name in f.members:
            assert f.stop(name) == 0, f.log_tail(name)
        yield f
    finally:
        f.close()


@pytest.fixture
def member(fed: LocalFederation, tmp_path: Path) -> Path:
    """A copy of member m0 (config, keys and the state it ran with) that a test may break."""
    src = fed.layout.member_dir("m0")
    dst = tmp_path / "m0"
    dst.mkdir()
    for name in KEEP:
        shutil.copy2(src / name, dst / name)
    shutil.copytree(src / "state", dst / "state")
    return dst / "fed.toml"


def _one_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.startswith("oceanfed: error:")]
    assert len(lines) == 1, proc.stderr
    return lines[0].removeprefix("oceanfed: error: ")


def _sql(db: Path, statement: str) -> None:
    conn = sqlite3.connect(db)
    conn.execute(statement)
    conn.commit()
    conn.close()


def _truncate(db: Path, size: int) -> None:
    with open(db, "r+b") as fh:
        fh.truncate(size)


BREAKS: dict[str, tuple[Callable[[Path], None], str]] = {
    "zero-bytes": (lambda db: _truncate(db, 0), "holds no sign-state"),
    "deleted": (lambda db: db.unlink(), "missing, but"),
    "state-row-deleted": (lambda db: _sql(db, "DELETE FROM state"), "holds no sign-state"),
    "random-bytes": (lambda db: db.write_bytes(os.urandom(db.stat().st_size)), "not a readable"),
    "half-a-file": (lambda db: _truncate(db, db.stat().st_size // 2), "not a readable"),
    "bad-json-row": (lambda db: _sql(db, "UPDATE state SET value = '{\"sign_state\": '"),
                     "not valid JSON"),
    "row-without-sign-state": (lambda db: _sql(db, "UPDATE state SET value = '{}'"),
                               "no valid sign_state"),
}


@pytest.mark.parametrize("damage", list(BREAKS))
def test_lost_or_damaged_state_is_refused_by_run_status_and_check(member: Path, damage: str) -> None:
    db = member.parent / "state" / "state.sqlite3"
    assert not Path(f"{db}-wal").exists()  # a clean stop checkpointed everything into the file
    marker = member.parent / "state" / MARKER
    marker_before = marker.read_bytes() if marker.exists() else None
    breaker, reason = BREAKS[damage]
    breaker(db)
    run = _one_line(oceanfed("run", "--config", str(member)))
    assert str(db) in run and reason in run and "oceanfed state reset" in run
    assert not db.exists() or damage != "deleted"  # nothing was created in its place
    # status and check judge the state exactly as run does
    status = oceanfed("status", "--config", str(member))
    assert status.returncode == 1 and "Traceback" not in status.stderr, status.stderr
    assert f"sign-state  UNUSABLE: {run}" in status.stdout
    check = oceanfed("check", "--config", str(member))
    assert check.returncode == 1, check.stdout
    assert f"FAILED state_dir: {run}" in check.stdout
    assert "all checks passed" not in check.stdout
    assert marker_before is not None and marker.read_bytes() == marker_before


def test_a_damaged_marker_is_refused(member: Path) -> None:
    marker = member.parent / "state" / MARKER
    marker.write_text("{not json")
    run = _one_line(oceanfed("run", "--config", str(member)))
    assert str(marker) in run and "not a valid state marker" in run


def test_another_members_state_is_refused(member: Path) -> None:
    marker = member.parent / "state" / MARKER
    data = json.loads(marker.read_text())
    marker.write_text(json.dumps({**data, "member": "m1"}))
    run = _one_line(oceanfed("run", "--config", str(member)))
    assert run == (f"{marker}: this state belongs to member 'm1' on chain 'ocean_test', not member "
                   "'m0' on chain 'ocean_test'; point member.state_dir at this member's own state")
    status = oceanfed("status", "--config", str(member))
    assert status.returncode == 1 and f"sign-state  UNUSABLE: {run}" in status.stdout


def test_check_reports_an_unusable_state_dir(member: Path, tmp_path: Path) -> None:
    state = member.parent / "state"
    out = oceanfed("check", "--config", str(member))
    assert f"ok     state_dir: {state}: sign-state readable, height" in out.stdout, out.stdout
    os.chown(state / "state.sqlite3", 54321, 54321)  # wrong owner
    out = oceanfed("check", "--config", str(member))
    assert out.returncode == 1 and "all checks passed" not in out.stdout
    assert f"FAILED state_dir: member.state_dir: {state / 'state.sqlite3'} is owned by uid 54321" \
        in out.stdout
    os.chown(state / "state.sqlite3", os.geteuid(), os.getegid())
    shutil.rmtree(state)
    state.write_text("")  # not a directory
    out = oceanfed("check", "--config", str(member))
    assert out.returncode == 1 and f"FAILED state_dir: member.state_dir: {state} is not a directory" \
        in out.stdout
    state.unlink()
    out = oceanfed("check", "--config", str(member))  # missing: a first start, or lost state
    assert f"warn   state_dir: {state} does not exist" in out.stdout
    assert "(1 warning)" in out.stdout


def test_check_reports_a_state_dir_it_cannot_write(member: Path) -> None:
    state = member.parent / "state"
    if os.geteuid() == 0:  # root ignores permissions: make the directory immutable instead
        if subprocess.run(["chattr", "+i", str(state)], capture_output=True).returncode != 0:
            pytest.skip("running as root without chattr +i support")
    else:
        state.chmod(0o500)
    try:
        out = oceanfed("check", "--config", str(member))
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(state)], check=True)
        state.chmod(0o700)
    assert out.returncode == 1, out.stdout
    assert f"FAILED state_dir: member.state_dir: {state} is not writable" in out.stdout


def _tip(fed: LocalFederation) -> int:
    return fed.height()


def test_reset_refuses_while_a_member_holds_the_state(member: Path) -> None:
    state = member.parent / "state"
    before = (state / "state.sqlite3").read_bytes()
    holder = StateStore(state)  # as a running member does
    try:
        err = _one_line(oceanfed("state", "reset", "--config", str(member), "--from-height", "0"))
    finally:
        holder.close()
    assert err == f"member.state_dir: {state} is in use by another oceanfed process"
    assert (state / "state.sqlite3").read_bytes() == before


def test_reset_starts_afresh_above_the_chain_tip(fed: LocalFederation, member: Path) -> None:
    state = member.parent / "state"
    (state / "state.sqlite3").unlink()
    tip = _tip(fed)
    out = oceanfed("state", "reset", "--config", str(member), "--from-height", "1")
    assert out.returncode == 0, out.stderr
    assert f"will sign only above height {tip} (node tip {tip}, --from-height 1)" in out.stdout
    assert "the old state was unusable" in out.stdout
    marker = json.loads((state / MARKER).read_text())
    assert (marker["first_height"], marker["reset_floor"], marker["member"]) == (tip + 1, tip, "m0")
    status = oceanfed("status", "--config", str(member), "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    assert json.loads(status.stdout)["sign_state"] == {"height": tip, "block_hash": None}
    text = oceanfed("status", "--config", str(member)).stdout
    assert f"signs only above height {tip}" in text


def test_reset_keeps_a_higher_floor_and_the_old_files(fed: LocalFederation, member: Path) -> None:
    state = member.parent / "state"
    old = (state / "state.sqlite3").read_bytes()
    high = _tip(fed) + 100
    out = oceanfed("state", "reset", "--config", str(member), "--from-height", str(high))
    assert out.returncode == 0, out.stderr
    assert f"will sign only above height {high}" in out.stdout
    kept = [p for p in state.iterdir() if p.name.startswith("state.sqlite3.before-reset-")
            and p.name.endswith("Z")]  # its -wal and -shm, if any, moved with it
    assert len(kept) == 1 and kept[0].read_bytes() == old and f"kept the old file as {kept[0]}" \
        in out.stdout
    bad = oceanfed("state", "reset", "--config", str(member), "--from-height", "-3")
    assert bad.returncode == 2 and "expected a height of 0 or more" in bad.stderr


def test_a_reset_member_never_signs_at_or_below_its_floor(fed: LocalFederation) -> None:
    """The real m0, reset two heights above the tip, rejoins: it signs only above the floor."""
    config = fed.layout.fed_toml("m0")
    state = fed.layout.member_dir("m0") / "state"
    (state / "state.sqlite3").unlink()  # lost
    run = _one_line(oceanfed("run", "--config", str(config)))
    assert "missing, but" in run
    tip = _tip(fed)
    floor = tip + 2
    out = oceanfed("state", "reset", "--config", str(config), "--from-height", str(floor))
    assert out.returncode == 0, out.stderr
    try:
        fed.start()
        assert fed.wait_height(floor + 4, timeout=90) >= floor + 4, fed.log_tail("m0")
    finally:
        for name in fed.members:
            fed.stop(name)
    signed = fed.signed("m0")
    assert signed, fed.log_tail("m0", 20)
    assert min(signed) > floor, signed
