"""CPU time by component: nested sections counted once, threads read whole, /metrics."""

from __future__ import annotations

import threading
import time
from typing import Any

from oceanfed.consensus import events as E
from oceanfed.cpuacct import COMPONENTS, CpuAccount, thread_ids
from oceanfed.driver import Driver
from oceanfed.metrics import DriverCollector
from testsupport.member import Member


def _burn(cpu_ns: int) -> None:
    """Spin until this thread has used ``cpu_ns`` more CPU nanoseconds."""
    end = time.thread_time_ns() + cpu_ns
    while time.thread_time_ns() < end:
        pass


def test_a_nested_section_is_taken_out_of_the_outer_one() -> None:
    account = CpuAccount()
    account.call("machine", account.call, "frames", _burn, 30_000_000)
    spent = account.seconds()
    assert spent["frames"] >= 0.03
    # the outer section's own work is only the call around the inner one
    assert spent["machine"] < spent["frames"] / 10, spent


def test_sections_on_other_threads_and_whole_threads_that_ended() -> None:
    account = CpuAccount()
    worker = threading.Thread(target=account.call, args=("rpc", _burn, 20_000_000))
    worker.start()
    worker.join()
    before = thread_ids()
    started, go, burnt, release = (threading.Event() for _ in range(4))

    def messenger_thread() -> None:
        started.set()
        go.wait()
        _burn(20_000_000)
        burnt.set()
        release.wait()

    t = threading.Thread(target=messenger_thread)
    t.start()
    started.wait()
    account.watch_threads(thread_ids() - before, "messenger")
    assert account.seconds()["messenger"] < 0.02
    go.set()
    burnt.wait()
    spent = account.seconds()
    release.set()
    t.join()
    assert spent["rpc"] >= 0.02, spent
    assert spent["messenger"] >= 0.02, spent
    # a thread that ended keeps its last reading
    assert account.seconds()["messenger"] >= spent["messenger"]
    assert set(spent) == set(COMPONENTS)


class _Quiet:
    """A messenger that carries nothing."""

    sent: list[bytes] = []

    def start(self, deliver: Any) -> None:
        pass

    def broadcast(self, data: bytes) -> None:
        self.sent.append(data)

    @staticmethod
    def stats() -> dict[str, int]:
        return {}


def test_the_driver_counts_frame_checks_apart_from_the_machine() -> None:
    """Real frames through the driver's intake: decode and verify are ``frames``."""
    member = Member()
    block = member.block(1)
    driver = Driver(member.machine, node=None, signer=None, messenger=_Quiet(), store=None)  # type: ignore[arg-type]
    before = driver.cpu.seconds()
    for round in range(40):
        for sender in member.others():
            driver._deliver(member.vote(sender, round, "prevote", block), f"m{sender}")
    while not driver.inbox.empty():
        item = driver.inbox.get()
        assert not isinstance(item, E.Event | None)
        driver._on_frame(item)
    after = driver.cpu.seconds()
    assert after["frames"] > before["frames"]
    assert after["machine"] > before["machine"]
    samples = {(s.name, tuple(s.labels.items())): s.value
               for family in DriverCollector(driver).collect() for s in family.samples}
    exported = {dict(labels)["component"]: v for (name, labels), v in samples.items()
                if name == "oceanfed_cpu_seconds_total"}
    assert set(exported) == set(COMPONENTS)
    assert exported["frames"] >= after["frames"]
    assert set(driver.status()["cpu_seconds"]) == set(COMPONENTS)


def test_the_loops_waits_are_between_its_turns() -> None:
    """Sections timed by the wall clock share the CPU of their own turn; a wait (its wall
    time and its CPU) is no section's but ``loop``; a section that may block is counted
    by its CPU alone."""
    account = CpuAccount()
    account.mark_loop()
    before = account.seconds()
    started = time.thread_time_ns()
    account.begin()
    account.timed("messenger", _burn, 20_000_000)
    account.wait(time.sleep, 0.3)  # the loop's select, with nothing to do
    account.timed("machine", _burn, 20_000_000)
    account.wait(_burn, 20_000_000)  # what a wait itself costs is the loop's
    account.call("persistence", lambda: (_burn(10_000_000), time.sleep(0.1)))
    account.timed("signer", _burn, 20_000_000)
    account.end()
    spent = (time.thread_time_ns() - started) / 1e9
    after = account.seconds()
    got = {k: after[k] - before[k] for k in after}
    assert 0.01 <= got["persistence"] < 0.02, got  # its CPU, not its sleep
    assert 0.015 <= got["loop"] < 0.03, got  # the burning wait
    # had the waits counted in the turns, the sleep would have diluted the shares
    timed = got["messenger"] + got["machine"] + got["signer"]
    assert timed >= 0.9 * (spent - got["persistence"] - got["loop"]), (got, spent)
    for component in ("messenger", "machine", "signer"):  # (each may be preempted)
        assert 0.2 * timed / 3 < got[component] < 5 * timed / 3, got
    total = sum(got[k] for k in ("messenger", "machine", "signer", "persistence", "loop"))
    assert 0.95 * spent <= total <= 1.05 * spent, (got, spent)


def test_a_long_turn_is_shared_out_before_it_ends() -> None:
    """A loop that does not wait still has its turn's time shared out (:meth:`lap`)."""
    account = CpuAccount()
    account.mark_loop()
    account.begin()
    account.timed("machine", _burn, 30_000_000)
    account.lap(longest_ns=10**12)  # not long enough yet: nothing shared
    assert account.seconds()["machine"] == 0
    account.lap(longest_ns=0)
    assert account.seconds()["machine"] >= 0.025
    account.timed("frames", _burn, 30_000_000)
    account.end()
    spent = account.seconds()
    assert spent["frames"] >= 0.025 and spent["machine"] < 0.04, spent


class _SlowSend(_Quiet):
    """A messenger whose sends take wall time without CPU, as a send does when the
    kernel preempts the loop for the task it woke."""

    def broadcast(self, data: bytes) -> None:
        time.sleep(0.05)


def test_the_loops_sends_are_counted_by_their_cpu_not_their_wall_time() -> None:
    """Timed by the wall clock, three sends would take most of the turn's CPU from the
    machine; counted exactly they take none of it."""
    from oceanfed.consensus import actions as A

    driver = Driver(Member().machine, node=None, signer=None, messenger=_SlowSend(), store=None)  # type: ignore[arg-type]
    driver.cpu.mark_loop()
    before = driver.cpu.seconds()
    driver.cpu.begin()
    driver.cpu.timed("machine", _burn, 30_000_000)
    driver._execute([A.Broadcast(b"x"), A.Broadcast(b"y"), A.Broadcast(b"z")])
    driver.cpu.end()
    after = driver.cpu.seconds()
    got = {k: after[k] - before[k] for k in after}
    assert got["machine"] >= 0.025, got
    assert got["messenger"] < 0.005, got
