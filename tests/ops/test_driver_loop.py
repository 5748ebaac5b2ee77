"""The driver's loop: a turn takes everything that waits in the inbox, yet a flooded inbox
holds back neither the machine's timers nor the view other threads read; a signer that does
not block signs on the loop; the CPU of a turn is shared by wall time, never the waits.

A real machine (:class:`testsupport.member.Member`), a real state store, a real JSON-RPC node
over loopback HTTP, a real soft signer.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from oceanfed import wire
from oceanfed.consensus import actions as A
from oceanfed.consensus import events as E
from oceanfed.cpuacct import CpuAccount
from oceanfed.driver import Driver, write_status_file
from oceanfed.interfaces import PluginContext, SignRequest
from oceanfed.rpc import NodeClient
from oceanfed.statestore import StateStore
from oceanfed_soft.signer import SoftOptions, SoftSigner
from testsupport.jsonrpc import ScriptedHandler, scripted_node
from testsupport.member import GENESIS, Member
from testsupport.waiting import wait_until


class _Recorder:
    """A messenger that carries nothing and keeps what the member broadcasts, with how many
    frames were waiting in the inbox at that moment."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int]] = []
        self.driver: Driver | None = None

    def start(self, deliver: Any) -> None:
        pass

    def start_polled(self, deliver: Any) -> bool:
        return False  # frames come through the inbox, as from a receiver thread

    def broadcast(self, data: bytes) -> None:
        assert self.driver is not None
        self.sent.append((wire.peek(data).kind, self.driver.inbox.qsize()))

    @staticmethod
    def stats() -> dict[str, int]:
        return {}

    def close(self) -> None:
        pass


class _TipZero(ScriptedHandler):
    """A node at height 0 (the genesis block): the member's machine is at height 1."""

    def reply(self, request: dict[str, Any]) -> tuple[int, bytes]:
        if request["method"] == "getblockchaininfo":
            result: Any = {"blocks": 0, "bestblockhash": GENESIS}
            return 200, json.dumps({"result": result, "error": None, "id": request["id"]}).encode()
        return 500, b'{"result": null, "error": {"code": -1, "message": "not here"}, "id": 0}'


@pytest.fixture
def node() -> Iterator[NodeClient]:
    with scripted_node(_TipZero) as client:
        yield client


def test_a_flooded_inbox_holds_back_neither_timers_nor_the_view(tmp_path: Path, node: NodeClient) -> None:
    """Peers filled the inbox while the propose timeout ran out: the member prevotes nil
    before it has worked through the frames, and hands other threads fresh views while it
    does."""
    member = Member(n=4, m=3, me=0)  # member 1 proposes round 0: member 0 waits for it
    assert member.machine.next_deadline() <= 1.0
    messenger = _Recorder()
    start = time.monotonic() - 1.5  # the member's time 1.5: its propose timeout is due
    store = StateStore(tmp_path / "state")
    driver = Driver(member.machine, node=node, signer=None, messenger=messenger,  # type: ignore[arg-type]
                    store=store, clock=lambda: time.monotonic() - start)
    messenger.driver = driver
    counter = itertools.count()
    for _ in range(100_000):
        n = next(counter)
        driver._deliver(wire.MAGIC + n.to_bytes(8, "big") + os.urandom(24), f"m{1 + n % 3}")
    seen: set[int] = set()
    watching = threading.Event()
    watching.set()

    def watch() -> None:  # the views another thread (metrics, /status) reads meanwhile
        while watching.is_set():
            if driver.inbox.qsize() > 0:
                seen.add(id(driver.view))
            time.sleep(0.005)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    loop = threading.Thread(target=driver.run, daemon=True)
    loop.start()
    try:
        wait_until(lambda: driver.inbox.qsize() == 0, timeout=120, what="the frames worked through")
        wait_until(lambda: any(kind == "prevote" for kind, _ in messenger.sent), timeout=30,
                   what="the prevote")
        waiting = [queued for kind, queued in messenger.sent if kind == "prevote"]
        assert waiting[0] > 50_000, messenger.sent  # sent first, not after the frames
        assert driver.drops.total() >= 100_000  # and the frames were all handled (dropped)
        assert len(seen) >= 3, len(seen)  # views handed out while the loop was busy
    finally:
        watching.clear()
        watcher.join(10)
        driver.stop()
        loop.join(20)
        store.close()
    assert not loop.is_alive()


def _soft_signer(tmp_path: Path, cls: type[SoftSigner]) -> SoftSigner:
    key = tmp_path / "block.key"
    key.write_text("11" * 32 + "\n")
    key.chmod(0o600)
    context = PluginContext(member_index=0, members=[], threshold=1, chain="ocean_test",
                            base_dir=str(tmp_path))
    return cls(SoftOptions(key_file="block.key"), context)


class _Recording(SoftSigner):
    """The soft signer, noting the thread each signature is made on."""

    threads: list[str]

    def sign(self, request: SignRequest) -> bytes:
        self.threads = [*getattr(self, "threads", []), threading.current_thread().name]
        return super().sign(request)


class _RecordingBlocking(_Recording):
    blocking = True


@pytest.mark.parametrize(("cls", "extras", "thread"), [
    (_Recording, {}, "MainThread"),  # the soft signer does not block: signed on the loop
    (_Recording, {"x": 1}, "oceanfed-sign"),  # sign_extras hooks may block: the signing thread
    (_RecordingBlocking, {}, "oceanfed-sign"),  # a signer that may block: the signing thread
])
def test_a_signer_that_does_not_block_signs_on_the_loop(
    tmp_path: Path, cls: type[_Recording], extras: dict[str, Any], thread: str
) -> None:
    assert SoftSigner.blocking is False
    signer = _soft_signer(tmp_path, cls)
    driver = Driver(None, node=None, signer=signer, messenger=None, store=None)  # type: ignore[arg-type]
    try:
        digest = bytes(range(32))
        driver._execute([A.Sign(1, "ab" * 32, digest, b"", "00", extras)])
        signed = driver.inbox.get(timeout=30)
        assert isinstance(signed, E.Signed) and signed.der is not None and signed.error is None
        assert signer.threads == [thread]
    finally:
        driver.close()


def test_status_json_is_replaced_whole_and_readable(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    old = os.umask(0o077)
    try:
        write_status_file(path, {"height": 7})
        write_status_file(path, {"height": 8})
    finally:
        os.umask(old)
    assert json.loads(path.read_text()) == {"height": 8}
    assert path.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]


def _burn(cpu_ns: int) -> None:
    end = time.thread_time_ns() + cpu_ns
    while time.thread_time_ns() < end:
        pass


def test_a_turn_shares_its_cpu_by_wall_time_and_waits_are_not_cpu() -> None:
    """Within a turn, timed sections share the turn's CPU by their wall time; a section
    timed exactly keeps its own CPU, and its waiting is no one's CPU time."""
    account = CpuAccount()
    account.mark_loop()
    before = account.seconds()

    def turn() -> None:
        account.timed("machine", _burn, 40_000_000)
        account.timed("machine", account.timed, "frames", _burn, 40_000_000)
        account.call("persistence", lambda: (_burn(20_000_000), time.sleep(0.2)))

    started = time.thread_time_ns()
    account.turn(turn)
    spent = (time.thread_time_ns() - started) / 1e9
    after = account.seconds()
    got = {k: after[k] - before[k] for k in after}
    assert 0.02 <= got["persistence"] < 0.04, got  # its CPU, not its 0.2 s of sleep
    # the rest of the turn's CPU went to the timed sections, about evenly (40 ms each)
    assert got["machine"] + got["frames"] >= 0.9 * (spent - got["persistence"]), (got, spent)
    assert 0.25 < got["frames"] / got["machine"] < 4.0, got  # (the machine may be preempted)
    assert got["machine"] + got["frames"] + got["persistence"] <= 1.05 * spent, (got, spent)
    assert got["loop"] < 0.1 * spent, got


def test_each_block_accepted_is_one_info_line_with_its_fields(
    caplog: pytest.LogCaptureFixture,
) -> None:
    member = Member()
    driver = Driver(member.machine, node=None, signer=None, messenger=_Recorder(), store=None)  # type: ignore[arg-type]
    member.machine.last_block = {
        "height": 7, "hash": "ab" * 32, "proposer": "m1", "round": 2,
        "signers": ["m0", "m1", "m3"], "latency": 0.01234,
    }
    with caplog.at_level("INFO", logger="oceanfed.driver"):
        driver._notify(A.BlockSubmitted(7, "ab" * 32, "rejected"))
        assert caplog.records == []
        driver._notify(A.BlockSubmitted(7, "ab" * 32, "accepted"))
    [record] = caplog.records
    assert record.levelname == "INFO" and record.name == "oceanfed.driver"
    assert record.getMessage() == (
        f"block 7 {'ab' * 8} accepted (proposer m1, round 2, signers m0,m1,m3, 12.3 ms)"
    )
    fields = {k: getattr(record, k) for k in ("height", "round", "block", "proposer", "signers")}
    assert fields == {"height": 7, "round": 2, "block": "ab" * 32, "proposer": "m1",
                      "signers": "m0,m1,m3"}
    caplog.clear()
    with caplog.at_level("INFO", logger="oceanfed.driver"):
        logging.getLogger("oceanfed.driver").setLevel(logging.WARNING)  # the handler takes INFO
        driver._notify(A.BlockSubmitted(7, "ab" * 32, "accepted"))
    assert caplog.records == []
