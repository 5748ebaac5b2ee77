"""Where a member's CPU time goes, by component, cheaply enough to be always on.

Reading a thread's CPU clock (:func:`time.thread_time_ns`) is a system call (half a
microsecond of CPU here, and a point where the kernel may preempt the loop); the wall clock
(:func:`time.perf_counter_ns`) is not. So the loop reads its CPU clock only where it goes
to sleep and wakes up, and times what it runs in between by the wall clock:

* The loop's time runs in *turns* (:meth:`CpuAccount.begin` to :meth:`CpuAccount.end`),
  from one of its waits to the next: each wait (:meth:`CpuAccount.wait`: the select on
  the messenger's fds, the inbox) closes the turn before it and opens the next after it,
  so the wait and the kernel's work to wake the loop are ``loop``, never a section's. A
  turn that lasts 50 ms without a wait is closed and the next one opened with a single
  reading (:meth:`CpuAccount.lap`).
* Within a turn, code that computes or only reads (:meth:`CpuAccount.timed`: the machine,
  frame checks, the non-blocking signer, copying the view, reading a node's answer on the
  loop's own connection) is timed by the wall clock, and the
  turn's CPU time outside exact sections is shared among those sections in proportion to
  their wall time; the rest of the turn is ``loop``.
* Everything else is timed exactly, by the CPU clock around it (:meth:`CpuAccount.call`),
  and within a turn its wall time is taken out of the turn's: code that may block (saving
  state, which waits for the disk to flush; everything on other threads: node calls,
  blocking signers, status.json), and the loop's sends (the messenger's pumps and sends,
  the requests of the node calls the loop carries). A send does not block, but it wakes
  another task (libzmq's I/O thread, a peer, the node), and that is where the kernel
  preempts the loop, so its wall time runs far beyond its CPU time: shared by wall time,
  the messenger's sends and pumps took a third of the frame checks' and the machine's
  CPU, and the node calls' steps were counted 2.4 times over.

Until a turn closes, its sections' CPU time shows as ``loop``: the split lags by at most
one turn.

A section nested in another (checking a frame inside ``Machine.handle``) is taken out of the
outer one, so every component is counted once. Threads the driver does not run itself (the
messenger's threads, libzmq's I/O threads among them) are read whole, by their own CPU
clocks, when the totals are read. Each thread adds only to its own counters, so timing
takes no lock. The components add up to the process's CPU time: what no section counts
is ``loop`` on the loop thread and ``other`` elsewhere.

Components (``oceanfed_cpu_seconds_total{component}`` in ``/metrics``, ``cpu_seconds`` in
status.json):

* ``frames``: sealing our frames, decoding peers' and checking their signatures (the
  transport signature of every frame, the block signature in a SIG);
* ``machine``: the consensus state machine (``Machine.handle``), frames excluded;
* ``persistence``: saving the consensus state (``StateStore.save``);
* ``status``: rewriting status.json;
* ``rpc``: calls to the node (the JSON-RPC client, on the driver's RPC threads and the
  loop's own connections);
* ``signer``: the signer plugin making block signatures;
* ``messenger``: sending frames and pumping a polled messenger (on the loop), and the
  messenger's own threads;
* ``loop``: the rest of the driver's loop thread (its queue, logging, dispatching actions);
* ``other``: everything else in the process (plugin hooks, the metrics listener, start-up).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

COMPONENTS = (
    "frames", "machine", "persistence", "status", "rpc", "signer", "messenger", "loop", "other",
)

T = TypeVar("T")

_now = time.thread_time_ns
_wall = time.perf_counter_ns


def thread_cpu_ns(tid: int) -> int | None:
    """CPU nanoseconds a thread of this process (by kernel thread id) has used, or None
    once it is gone. The clock id is the kernel's per-thread CPU clock of ``tid``
    (what ``pthread_getcpuclockid`` returns), valid for threads of the calling process."""
    try:
        return time.clock_gettime_ns((~tid << 3) | 6)
    except OSError:
        return None


def thread_ids() -> set[int]:
    """Kernel ids of this process's threads now."""
    try:
        return {int(t) for t in os.listdir("/proc/self/task")}
    except OSError:
        return set()


def _snapshot(counts: dict[str, int]) -> dict[str, int]:
    """A copy of a dict another thread may be adding to."""
    for _ in range(4):
        try:
            return dict(counts)
        except RuntimeError:  # changed size during iteration
            continue
    return {}


class _Turn:
    """One turn of the loop being timed: its clocks at the start, the wall time of its
    timed sections by component, and the CPU and wall time of its exact sections."""

    __slots__ = ("cpu0", "wall0", "walls", "inner", "exact_cpu", "exact_wall")

    def __init__(self, cpu0: int) -> None:
        self.walls: dict[str, int] = {}
        #: wall ns spent in sections nested in the timed one running now
        self.inner = 0
        self.exact_cpu = 0
        self.exact_wall = 0
        self.wall0 = _wall()
        self.cpu0 = cpu0


class _Local(threading.local):
    def __init__(self) -> None:
        self.counts: dict[str, int] | None = None
        #: CPU ns spent in sections nested in the one running now
        self.inner = 0
        #: the loop's turn being timed, if any
        self.turn: _Turn | None = None


class CpuAccount:
    """Per-component CPU time of one member process."""

    def __init__(self) -> None:
        self._local = _Local()
        self._lock = threading.Lock()
        self._threads: list[dict[str, int]] = []
        #: kernel id of the thread running the loop, once it runs
        self.loop_tid: int | None = None
        #: kernel ids of threads read whole, by component; their last reading
        self._whole: dict[int, str] = {}
        self._last: dict[int, int] = {}
        self._loop_counts: dict[str, int] | None = None
        #: the loop thread's CPU time outside sections before it ran the loop
        self._loop_base = 0

    def _counts(self) -> dict[str, int]:
        counts = self._local.counts
        if counts is None:
            counts = self._local.counts = dict.fromkeys(COMPONENTS, 0)
            with self._lock:
                self._threads.append(counts)
        return counts

    def call(self, component: str, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)``, its thread CPU time counted to ``component`` (less nested sections)."""
        local = self._local
        turn = local.turn
        if turn is not None:
            return self._exact_in_turn(local, turn, component, fn, args)
        outer = local.inner
        local.inner = 0
        start = _now()
        try:
            return fn(*args)
        finally:
            spent = _now() - start
            counts = local.counts if local.counts is not None else self._counts()
            counts[component] += spent - local.inner
            local.inner = outer + spent

    def _exact_in_turn(
        self, local: _Local, turn: _Turn, component: str, fn: Callable[..., T], args: tuple[Any, ...]
    ) -> T:
        """A section timed by the CPU clock within a turn: its wall time is taken out of the
        turn's (and of a timed section around it); sections in it are timed exactly too."""
        local.turn = None
        outer, local.inner = local.inner, 0
        wall = _wall()
        try:
            return self.call(component, fn, *args)
        finally:
            local.turn = turn
            wall = _wall() - wall
            turn.exact_wall += wall
            turn.inner += wall
            # what call() just counted, nested sections included, is the section's CPU
            turn.exact_cpu += local.inner
            local.inner = outer

    def timed(self, component: str, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)``, code that never blocks, counted to ``component``: by the wall clock
        within a turn of the loop (see :meth:`begin`), elsewhere as :meth:`call`."""
        turn = self._local.turn
        if turn is None:
            return self.call(component, fn, *args)
        outer = turn.inner
        turn.inner = 0
        start = _wall()
        try:
            return fn(*args)
        finally:
            spent = _wall() - start
            walls = turn.walls
            walls[component] = walls.get(component, 0) + spent - turn.inner
            turn.inner = outer + spent

    def begin(self) -> None:
        """Open a turn on the calling thread (the loop), unless one is open: until
        :meth:`end`, :meth:`timed` sections on it are timed by the wall clock."""
        local = self._local
        if local.turn is None:
            local.turn = _Turn(_now())

    def end(self) -> None:
        """Close the calling thread's turn, if one is open: its CPU time, less its exact
        sections, is shared among its timed sections by their wall time; the rest is
        ``loop``."""
        local = self._local
        turn = local.turn
        if turn is not None:
            local.turn = None
            self._close(local, turn, _now())

    def lap(self, longest_ns: int = 50_000_000) -> None:
        """Close the calling thread's turn and open the next one, with one reading of the
        CPU clock, once it has lasted ``longest_ns`` of wall time (its waits included)."""
        local = self._local
        turn = local.turn
        if turn is not None and _wall() - turn.wall0 >= longest_ns:
            now = _now()
            local.turn = _Turn(now)
            self._close(local, turn, now)

    def wait(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)``, a wait of the loop (its select), between two turns: the open turn
        is closed before it and the next one opened after it, so that neither the wait's
        wall time nor its CPU time (the system call, and the kernel's switching back to
        the loop when it wakes, which grows with the machine's load) is any section's: it
        is ``loop``. Not within a section."""
        local = self._local
        turn = local.turn
        if turn is None:
            return fn(*args)
        local.turn = None
        self._close(local, turn, _now())
        try:
            return fn(*args)
        finally:
            local.turn = _Turn(_now())

    def _close(self, local: _Local, turn: _Turn, cpu_now: int) -> None:
        cpu, wall = cpu_now - turn.cpu0, _wall() - turn.wall0
        rest_cpu, rest_wall = cpu - turn.exact_cpu, wall - turn.exact_wall
        if rest_cpu > 0 and rest_wall > 0 and turn.walls:
            counts = local.counts if local.counts is not None else self._counts()
            for component, spent in turn.walls.items():
                counts[component] += spent * rest_cpu // rest_wall

    def turn(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a turn of its own (:meth:`begin` ... :meth:`end`), unless the
        calling thread has one open already."""
        if self._local.turn is not None:
            return fn(*args)
        self.begin()
        try:
            return fn(*args)
        finally:
            self.end()

    def mark_loop(self) -> None:
        """The calling thread runs the loop: what its sections leave out is ``loop``."""
        self.loop_tid = threading.get_native_id()
        self._loop_counts = self._counts()
        self._loop_base = (thread_cpu_ns(self.loop_tid) or 0) - sum(self._loop_counts.values())

    def watch_threads(self, tids: Iterable[int], component: str) -> None:
        """Count these threads' whole CPU time to ``component`` (a thread that ended keeps
        its last reading)."""
        for tid in tids:
            if tid not in self._whole:
                self._whole[tid] = component
                self._last[tid] = thread_cpu_ns(tid) or 0

    def seconds(self) -> dict[str, float]:
        """CPU seconds so far, by component (the whole process for the sum)."""
        totals = dict.fromkeys(COMPONENTS, 0)
        with self._lock:
            threads = list(self._threads)
        for counts in threads:
            for key, value in _snapshot(counts).items():
                totals[key] += value
        for tid, component in list(self._whole.items()):
            now = thread_cpu_ns(tid)
            if now is not None:
                self._last[tid] = now
            totals[component] += self._last[tid]
        loop_tid, loop_counts = self.loop_tid, self._loop_counts
        if loop_tid is not None and loop_counts is not None:
            spent = thread_cpu_ns(loop_tid)
            if spent is not None:
                self._last[loop_tid] = spent
            in_sections = sum(_snapshot(loop_counts).values())
            totals["loop"] += max(0, self._last.get(loop_tid, 0) - in_sections - self._loop_base)
        process = time.process_time_ns()
        totals["other"] += max(0, process - sum(totals.values()))
        return {k: v / 1e9 for k, v in totals.items()}


class MeteredAuthenticator:
    """An :class:`~oceanfed.consensus.auth.Authenticator` whose work counts as ``frames``."""

    def __init__(self, inner: Any, account: CpuAccount):
        self.inner = inner
        self._call = account.timed

    def __repr__(self) -> str:
        return repr(self.inner)

    def seal(self, height: int, round: int, kind: str, payload: dict[str, Any]) -> bytes:
        return self._call("frames", self.inner.seal, height, round, kind, payload)

    def open(self, data: bytes, floor: int = 0) -> Any:
        return self._call("frames", self.inner.open, data, floor)

    def open_screened(self, data: bytes, floor: int, useless: Any) -> Any:
        screened = getattr(self.inner, "open_screened", None)
        if screened is None:
            return self._call("frames", self.inner.open, data, floor)
        return self._call("frames", screened, data, floor, useless)

    def verify_block_sig(self, member: int, digest: bytes, der: bytes) -> bool:
        return self._call("frames", self.inner.verify_block_sig, member, digest, der)
