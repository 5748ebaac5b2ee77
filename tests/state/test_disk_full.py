"""A member whose state disk fills up: a real, small tmpfs holds its state directory."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from oceanfed.audit import audit_chain
from oceanfed_devnet.launcher import LocalFederation
from testsupport.federation import fast_rounds, verify_chain
from testsupport.waiting import wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs (mounting needs root, as CI has)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _fill(disk: Path) -> Path:
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as f:
        with contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 65536)
        try:
            while True:
                f.write(b"\0" * 512)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def _log(fed: LocalFederation, name: str) -> str:
    return (Path(fed.dir) / "logs" / f"{name}.log").read_text(errors="replace")


def test_a_full_state_disk_stops_the_member_with_one_line_and_it_comes_back(
    tmp_path: Path, small_disk: Path,
) -> None:
    """It exited with a traceback (sqlite3.OperationalError). Nothing it signed may go
    unrecorded, so it stops, with one line naming the file; restarted after space is
    freed, it goes on from its intact state."""
    fed = LocalFederation(tmp_path / "fed", 3, 2, block_time=0.2, rounds=fast_rounds(0.25))
    with fed:
        fed.set_state_dir("m0", small_disk / "m0")
        fed.start()
        wait_until(lambda: fed.height() >= 3, timeout=60, what="the first blocks")
        filler = _fill(small_disk)
        wait_until(lambda: not fed.running("m0"), timeout=60, what="m0 to stop on the full disk")
        assert fed.procs["m0"].returncode == 1
        log = _log(fed, "m0")
        errors = [x for x in log.splitlines() if x.startswith("oceanfed: error:")]
        assert len(errors) == 1, log[-3000:]
        assert f"{small_disk / 'm0' / 'state.sqlite3'}: cannot write the state database" in errors[0]
        assert "free space" in errors[0] and "state reset" not in errors[0], errors
        assert "full" in errors[0] and "Traceback" not in log
        # the other two go on
        base = fed.height()
        wait_until(lambda: fed.height() >= base + 3, timeout=60, what="blocks without m0")

        # restarted while the disk is still full: the same one line, however far it got
        fed.start_member("m0")
        wait_until(lambda: not fed.running("m0"), timeout=60, what="m0 to stop again")
        assert fed.procs["m0"].returncode == 1
        log = _log(fed, "m0")
        again = [x for x in log.splitlines() if x.startswith("oceanfed: error:")]
        print(again[-1])
        assert len(again) == 2 and "full" in again[-1] and "Traceback" not in log, log[-3000:]

        os.remove(filler)
        before = log.count("accepted (proposer")
        fed.start_member("m0")
        wait_until(lambda: _log(fed, "m0").count("accepted (proposer") >= before + 3,
                   timeout=60, what="m0 to follow blocks again")
        signed_before = max(fed.signed("m0"))
        wait_until(lambda: max(fed.signed("m0")) > signed_before + 2, timeout=60,
                   what="m0 to sign again")
        assert fed.running("m0") and "Traceback" not in _log(fed, "m0")
        for name in fed.members:
            assert fed.stop(name) == 0, fed.log_tail(name)
        blocks = verify_chain(fed)
        tables = {name: fed.signed(name) for name in fed.members}
        assert audit_chain([b.header for b in blocks], fed.layout.threshold, tables, fed.members) == []
