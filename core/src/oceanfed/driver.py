"""The I/O driver: feeds a :class:`~oceanfed.consensus.machine.Machine` and performs its actions.

One loop thread owns the machine. Messengers deliver frames from their own threads into an
inbox, or, when they can (:meth:`Messenger.start_polled`), on the loop thread itself, which
then waits on their file descriptors, and on those of the node calls it carries itself (the
tip query, testproposedblock and submitblock over plain HTTP: no thread hand-off); other node
calls and signatures run on small thread pools and post their results back. The loop sleeps
until the next event, the machine's next deadline or a node call's: no polling sleeps.

Nothing a peer sends can stop the loop or grow the process without bound: received frames
wait in the inbox within a byte budget (per sending peer where the messenger knows it, and
in all), frames over the budget or over :data:`oceanfed.wire.MAX_FRAME` are dropped, and an
exception raised while handling one frame drops that frame only. Every drop is counted by
peer and reason in :attr:`Driver.drops` and logged at most once a minute per peer and reason.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import random
import re
import select
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

from pydantic_core import to_json

from oceanfed import crypto, hookspecs, wire
from oceanfed.consensus import actions as A
from oceanfed.consensus import events as E
from oceanfed.consensus.counts import Kind, Tally
from oceanfed.consensus.machine import Machine, Snapshot
from oceanfed.cpuacct import CpuAccount, MeteredAuthenticator, thread_ids
from oceanfed.droplog import UNKNOWN, DropLog
from oceanfed.errors import BlockComplete, FatalError, OceanfedError, RPCError
from oceanfed.interfaces import Messenger, Signer, SignRequest
from oceanfed.ocean.proof import is_hex
from oceanfed.signing_thread import SigningThread
from oceanfed.statestore import StateStore
from oceanfed.steadyclock import from_wall, steady

log = logging.getLogger("oceanfed.driver")

#: how often status.json is rewritten, at most
STATUS_INTERVAL = 0.25
#: how often the loop checks that the state directory is still on disk (see
#: :meth:`StateStore.ensure_in_place`)
STATE_CHECK_INTERVAL = 0.5
#: RPC error code of a block that the node refuses in ``testproposedblock``
RPC_VERIFY_ERROR = -25
#: ``testproposedblock`` errors that are the node's verdict on the block (see FACTS: -25 and
#: its reject reasons, -22 "Block decode failed"); every other error is a failure to retry
BLOCK_VERDICT_CODES = (RPC_VERIFY_ERROR, -22)
#: bytes of received frames waiting for the loop, from all peers together
INBOX_BYTES = 64 * 1024 * 1024
#: bytes of received frames waiting for the loop from one peer (three of the largest frames)
INBOX_PEER_BYTES = 3 * wire.MAX_FRAME

#: most node calls the loop carries itself at once (see Driver._on_loop); more go to threads
LOOP_CALLS = 4
#: RPC error code of a node still loading its chain (bitcoind's RPC_IN_WARMUP)
RPC_IN_WARMUP = -28
#: pause after the first failed node call of an outage, and the longest pause (seconds);
#: each pause doubles, and is drawn between half and all of its value (jitter)
NODE_BACKOFF = (0.25, 4.0)


class _Inbox(queue.SimpleQueue[Any]):
    """The loop's queue of events; wakes the loop where it waits on file descriptors."""

    def __init__(self) -> None:
        #: the loop waits on a selector that watches :attr:`wake_fd` (set by the loop)
        self.sleeping = False
        self._wake_rx = self._wake_tx = -1

    @property
    def wake_fd(self) -> int:
        """Readable once another thread put something while the loop was sleeping (a pipe
        opened on first use: only a loop that waits on file descriptors needs it)."""
        if self._wake_rx < 0:
            self._wake_rx, self._wake_tx = os.pipe()
            os.set_blocking(self._wake_rx, False)
            os.set_blocking(self._wake_tx, False)
        return self._wake_rx

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        super().put(item)
        if self.sleeping:  # read after the put: a loop about to sleep looks at the queue after
            with contextlib.suppress(OSError):  # a full pipe wakes the loop anyway
                os.write(self._wake_tx, b"\0")

    def put_nowait(self, item: Any) -> None:
        self.put(item)

    def clear_wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.read(self._wake_rx, 4096)

    def close(self) -> None:
        for fd in (self._wake_rx, self._wake_tx):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._wake_rx = self._wake_tx = -1


class _InFlight(NamedTuple):
    """The node call the loop carries (see Driver._on_loop), and what follows it."""

    call: Any  # oceanfed.rpc.LoopCall
    sock: Any  # its connection's socket
    sent_at: float
    expect: Callable[[Any], bool] | None
    then: Callable[[Any], None]
    failed: Callable[[RPCError], None]


def _events(call: Any) -> int:
    return select.EPOLLIN | (select.EPOLLOUT if call.writing else 0)


class _Poller:
    """The loop's wait on file descriptors: one epoll object used directly (the selectors
    module's Python layer around it cost more than its system calls).

    A node call's connection stays watched after the call while the loop keeps it for the
    next one (:attr:`idle`, by fd: its socket), so a call on it costs no registration. An
    idle connection that becomes ready (the node closed it) is dropped at once (see
    :meth:`wait`). The socket is kept with its fd: a connection closed meanwhile left the
    epoll set with its fd (the kernel drops a closed file's registration), and another
    socket given the same number is registered afresh."""

    __slots__ = ("ep", "idle")

    def __init__(self) -> None:
        self.ep = select.epoll()
        self.idle: dict[int, Any] = {}

    def add(self, fd: int, events: int) -> None:
        """Watch ``fd`` for ``events`` (whether or not it was watched)."""
        try:
            self.ep.register(fd, events)
        except FileExistsError:
            self.ep.modify(fd, events)

    def drop(self, fd: int) -> None:
        """Stop watching ``fd`` (nothing if it is not watched or was closed)."""
        self.idle.pop(fd, None)
        with contextlib.suppress(OSError, ValueError):
            self.ep.unregister(fd)

    def wait(self, timeout: float) -> list[int]:
        """The fds ready within ``timeout`` seconds, less idle connections (dropped)."""
        ready = [fd for fd, _ in self.ep.poll(timeout)]
        if self.idle:
            for fd in ready:
                if fd in self.idle:
                    self.drop(fd)
        return ready

    def close(self) -> None:
        self.ep.close()


class _Frame(NamedTuple):
    """A received frame in the inbox, with the peer its transport names and its size."""

    event: E.Received
    peer: str
    size: int


#: the least often the loop hands other threads a fresh view of the machine while busy
VIEW_INTERVAL = 0.05
#: seconds a signer call may run before the member reports it hung (``[metrics] unhealthy_after``)
SIGNER_STUCK_AFTER = 30.0
#: how long stopping waits for a signer call in progress before it leaves it behind
SIGNER_CLOSE_WAIT = 2.0


_DROPPED = Kind.DROPPED


class _DropCounter(Counter[Tally]):
    """The machine's counters, which note every ``dropped`` counter that goes up (in
    :attr:`raised`), so the driver finds a frame's drops without scanning them all."""

    def __init__(self, counts: Counter[Tally]):
        self.raised: list[tuple[Tally, int]] = []
        super().__init__(counts)
        self.raised.clear()

    def __setitem__(self, key: Tally, value: int) -> None:
        if key.kind is _DROPPED:
            self.raised.append((key, value - self.get(key, 0)))
        dict.__setitem__(self, key, value)


class NodeOutage:
    """One outage of the node (unreachable, garbage answers, or warming up).

    The first failure is logged once, and once more when the node answers again, with the
    count of failed calls; meanwhile calls are spaced out with exponential backoff and
    jitter (:meth:`gate` refuses a call, without sending it, until the next try is due).
    Thread-safe: the driver's RPC threads share one.
    """

    def __init__(self, url: str, clock: Callable[[], float] = time.monotonic):
        self.url = url
        self.clock = clock
        self._lock = threading.Lock()
        #: when the outage began (``clock``), or None while the node answers
        self.since: float | None = None
        #: "unusable" or "starting" during an outage
        self.kind: str | None = None
        self.failures = 0
        #: calls refused without being sent, over the life of the driver
        self.deferred = 0
        self._next_try = 0.0

    @property
    def starting(self) -> bool:
        return self.since is not None and self.kind == "starting"

    def gate(self, method: str) -> None:
        """Raise RPCError (code None, nothing sent) while waiting for the next try."""
        with self._lock:
            wait = self._next_try - self.clock()
            if self.since is None or wait <= 0:
                return
            self.deferred += 1
            state = "is starting" if self.kind == "starting" else "does not answer usefully"
        raise RPCError(
            f"node at {self.url} {state}: {method} waits {wait:.1f}s for the next try", None, method
        )

    def failed(self, reason: str, starting: bool = False) -> None:
        """A call failed without a usable answer; ``starting``: the node is warming up."""
        kind = "starting" if starting else "unusable"
        with self._lock:
            now = self.clock()
            if self.since is None:
                self.since = now
                self.failures = 0
            self.failures += 1
            pause = min(NODE_BACKOFF[1], NODE_BACKOFF[0] * 2 ** min(self.failures - 1, 16))
            self._next_try = now + pause * random.uniform(0.5, 1.0)
            changed, self.kind = kind != self.kind, kind
        if not changed:
            log.debug("node at %s: %s (failure %d of this outage)", self.url, reason, self.failures)
        elif starting:
            log.warning("node at %s is starting: waiting (%s)", self.url, reason)
        else:
            log.warning(  # ``reason`` names the node's URL
                "%s; retrying with backoff (pauses up to %gs) until the node answers",
                reason, NODE_BACKOFF[1],
            )

    def ok(self, sent_at: float | None = None) -> None:
        """A call got a usable answer: end the outage, if there was one.

        ``sent_at`` (``clock``) is when that call was sent: an answer to a call sent before
        the outage began says nothing about the node since, and does not end it.
        """
        if self.since is None:
            return
        with self._lock:
            since, failures = self.since, self.failures
            if since is None or (sent_at is not None and sent_at < since):
                return
            self.since, self.kind, self.failures, self._next_try = None, None, 0, 0.0
        log.info(
            "node at %s answers again after %.1fs (%d failed call(s) meanwhile)",
            self.url, self.clock() - since, failures,
        )



#: actions that may wait for a later Persist's flush: they send, or do no I/O at all
_MAY_WAIT = (A.Persist, A.Broadcast, A.Log, A.Observation)


def coalesce_persists(actions: list[A.Action]) -> list[A.Action]:
    """``actions`` with each run of Persists that only frames, logs and observations
    separate made one flush: the run's last record saved where its first stood.

    Every send still waits for exactly one flush, and a record on disk before a frame leaves
    is the machine's state at or after that frame's (a later snapshot holds what the earlier
    one does, the frame among it); a crash after that flush looks to peers like the frame
    was lost in the network, which the protocol tolerates. ``[Persist a, Broadcast x,
    Persist b, Broadcast y]`` becomes ``[Persist b, Broadcast x, Broadcast y]``: one flush
    where there were two, neither frame later.
    """
    if len(actions) < 2 or sum(isinstance(a, A.Persist) for a in actions) < 2:
        return actions
    out: list[A.Action] = []
    first = -1  # the position in ``out`` of the current run's first Persist
    for action in actions:
        if not isinstance(action, _MAY_WAIT):
            first = -1
        elif isinstance(action, A.Persist):
            if first >= 0:
                out[first] = action
                continue
            first = len(out)
        out.append(action)
    return out


class Driver:
    """Runs one member until :meth:`stop` is called."""

    def __init__(
        self,
        machine: Machine,
        *,
        node: Any,
        signer: Signer,
        messenger: Messenger,
        store: StateStore,
        hooks: Any = None,
        clock: Callable[[], float] = steady,
        on_block: Callable[[dict[str, Any]], None] | None = None,
        status_path: str | os.PathLike[str] | None = None,
        inbox_bytes: int = INBOX_BYTES,
        inbox_peer_bytes: int = INBOX_PEER_BYTES,
    ):
        #: CPU time by component (frames, machine, persistence, rpc, messenger…)
        self.cpu = CpuAccount()
        self.machine = machine
        #: the machine's counters, noting each drop so that it is put down to the frame's peer
        self._dropped = _DropCounter(machine.counters if machine is not None else Counter())
        if machine is not None:  # (tests drive a bare driver's node calls without a machine)
            if not isinstance(machine.auth, MeteredAuthenticator):
                machine.auth = MeteredAuthenticator(machine.auth, self.cpu)
            machine.counters = self._dropped
        #: what other threads read of the machine: a copy the loop replaces (see _publish_view)
        self.view: Snapshot = machine.snapshot() if machine is not None else Snapshot.blank()
        self._next_view = 0.0
        #: whether the machine may have changed since :attr:`view` was taken
        self._view_owed = False
        self.node = node
        self.signer = signer
        self.messenger = messenger
        self.store = store
        self.hooks = hooks
        self.clock = clock
        self.on_block = on_block
        #: called on every turn of the loop (the systemd watchdog)
        self.heartbeat: Callable[[], None] | None = None
        self.inbox: queue.SimpleQueue[E.Event | _Frame | None] = _Inbox()
        #: waits on the messenger's fds and the inbox's wake pipe (a polled messenger only)
        self._selector: _Poller | None = None
        self._fds: tuple[int, ...] = ()
        self._fdset: frozenset[int] = frozenset()
        #: the node calls in flight on the loop's own connections (see _on_loop), by fd
        self._inflight: dict[int, _InFlight] = {}
        #: fds of those calls watched for writing too (their request is not all out)
        self._writing: set[int] = set()
        self.inbox_bytes = inbox_bytes
        self.inbox_peer_bytes = inbox_peer_bytes
        self._queued: dict[str, int] = {}
        self._queued_total = 0
        self._inbox_lock = threading.Lock()
        #: frames dropped, by peer and reason (exported as metrics, logged rate-limited)
        self.drops = DropLog(log)
        self._rpc_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="rpc")
        #: a blocking signer's calls (see :mod:`oceanfed.signing_thread`)
        self._signing = SigningThread(self._sign, clock)
        #: seconds a signer call may run before it is reported as hung (and /health says so)
        self.signer_stuck_after = SIGNER_STUCK_AFTER
        #: the height of the hung call already reported, so that it is reported once
        self._stuck_reported: int | None = None
        #: the signer never blocks: the loop signs itself (see Signer.blocking)
        self._sign_inline = getattr(signer, "blocking", True) is False
        self._stop = threading.Event()
        self.last_node_ok = clock()
        #: block 1's timestamp (Unix time), which the block schedule counts from
        self._anchor_wall: int | None = None
        #: why a plugin stopped the member, if one did
        self.fatal: str | None = None
        self.rpc_errors = 0
        self.node_outage = NodeOutage(str(getattr(node, "url", "node")))
        self.messages_received = 0
        self.status_path = Path(status_path) if status_path is not None else None
        self._next_status = 0.0
        self._next_state_check = 0.0
        self._status_due = threading.Event()
        self._status_thread: threading.Thread | None = None

    # ---------------------------------------------------------------- lifecycle

    def stop(self) -> None:
        """Ask the loop to finish (safe from signal handlers and other threads)."""
        self._stop.set()
        self.inbox.put(None)

    def run(self) -> None:
        """Run the loop in this thread until :meth:`stop`.

        Each turn waits for the next event or timer, then takes whatever else is already
        waiting (for at most VIEW_INTERVAL), and only then does the once-a-turn work: the
        next deadline, the view, status.json and the heartbeat. Due timers go first at the
        start of a turn, so a busy inbox delays them by at most one turn.
        """
        self.cpu.mark_loop()
        before = thread_ids()
        self._start_messenger()
        self.cpu.watch_threads(thread_ids() - before, "messenger")
        clock = self.clock
        self.cpu.begin()  # the loop's time is read in turns (see CpuAccount.begin)
        try:
            self._execute(self.machine.start(clock()))
            while not self._stop.is_set():
                now = clock()
                deadline = self.machine.next_deadline()
                event: E.Event | _Frame | None
                if deadline <= now:
                    event = E.Tick()
                else:
                    # an owed view is handed out by its due time even while nothing happens
                    wake = min(deadline, self._next_view) if self._view_owed else deadline
                    event = self._next_event(max(0.0, wake - now))
                    if isinstance(event, E.Tick) and clock() < deadline:
                        self._end_turn(True)  # woken for the owed view
                        continue
                self._turn(event)
        finally:
            self.cpu.end()
            self._end_status_writer()
            self._publish_view()
            self._write_status(stopped=True)
            self.close()

    def _start_messenger(self) -> None:
        """Start the messenger: polled on this thread where it can be, else threaded."""
        if self.messenger.start_polled(self._deliver_on_loop):
            self._selector = _Poller()
            self._selector.add(self._wake_fd, select.EPOLLIN)
        else:
            self.messenger.start(self._deliver)

    def _next_event(self, timeout: float) -> E.Event | _Frame | None:
        """The next event in the inbox, waiting at most ``timeout`` seconds (then a Tick)."""
        if self._selector is None:
            if not self.inbox.empty():
                return self.inbox.get_nowait()
            try:
                return self.cpu.wait(self.inbox.get, True, timeout)
            except queue.Empty:
                return E.Tick()
        if not self.inbox.empty():
            return self.inbox.get_nowait()
        return self._receive(timeout)

    @property
    def _wake_fd(self) -> int:
        assert isinstance(self.inbox, _Inbox)
        return self.inbox.wake_fd

    def _receive(self, timeout: float) -> E.Event | _Frame | None:
        """Receive on the loop thread (a polled messenger): pump the messenger, and wait on
        its fds and the inbox's wake pipe until something is in the inbox or ``timeout``
        seconds have passed (then a Tick). The wait is the loop's, as on the inbox."""
        selector, inbox = self._selector, self.inbox
        assert selector is not None and isinstance(inbox, _Inbox)
        end = time.monotonic() + timeout
        ready: list[int] = []
        messenger = self.messenger
        while True:
            # the pump is timed only when it has work: a wakeup for one frame pumps twice, a
            # wakeup for a node call's fd alone not at all
            pause = 0.0 if ready and not self._fdset.isdisjoint(ready) else messenger.pump_due()
            if pause <= 0.0:
                pause = self.cpu.call("messenger", self._pump, selector, ready)
            if self._inflight:
                pause = min(pause, self._advance_all(ready))
            if not inbox.empty():
                return inbox.get_nowait()
            left = end - time.monotonic()
            if left <= 0:
                return E.Tick()
            inbox.sleeping = True
            try:
                if not inbox.empty():
                    continue
                ready = self.cpu.wait(selector.wait, max(0.0, min(left, pause)))
            finally:
                inbox.sleeping = False
            if inbox.wake_fd in ready:
                inbox.clear_wake()
            elif not ready and time.monotonic() >= end:
                return E.Tick()  # what came meanwhile waits for the next call

    def _pump(self, selector: _Poller, ready: list[int]) -> float:
        pause = self.messenger.pump(ready)
        fds = self.messenger.poll_fds()
        if fds is not self._fds:
            self._watch(selector, fds)
        return pause

    def _watch(self, selector: _Poller, fds: tuple[int, ...]) -> None:
        """Wait on ``fds`` instead of the messenger's previous ones (a closed fd's number
        may come back for a new socket: every old one is dropped first, unless its number
        is now a node call's)."""
        for fd in self._fds:
            if fd not in self._inflight and fd not in selector.idle:
                selector.drop(fd)
        for fd in fds:
            selector.idle.pop(fd, None)
            selector.add(fd, select.EPOLLIN)
        self._fds = fds
        self._fdset = frozenset(fds)

    def _turn(self, event: E.Event | _Frame | None) -> None:
        """One turn of the loop: ``event``, then whatever else already waits in the inbox
        (for at most VIEW_INTERVAL), then the once-a-turn work."""
        self._handle(event)
        inbox, clock = self.inbox, self.clock
        busy_until = clock() + VIEW_INTERVAL
        while not inbox.empty() and not self._stop.is_set():
            self._handle(inbox.get_nowait())
            if clock() >= busy_until:
                break
        self._end_turn()

    def _handle(self, event: E.Event | _Frame | None) -> None:
        """One event from the inbox (or a tick): into the machine, its actions performed."""
        if isinstance(event, _Frame):
            self._on_frame(event)
        elif event is not None:
            self._execute(self.cpu.timed("machine", self.machine.handle, event, self.clock()))
            self._dropped.raised.clear()  # not a peer's frame: counted by the machine only
        self._view_owed = True

    def _end_turn(self, waited: bool = False) -> None:
        """What the loop does once a turn: the view when due (or after a wait for it),
        status.json, the heartbeat."""
        now = self.clock()
        if self._view_owed and (waited or now >= self._next_view):
            self._publish_view()
        if now >= self._next_state_check and self.store is not None:
            self._next_state_check = now + STATE_CHECK_INTERVAL
            self.cpu.call("persistence", self.store.ensure_in_place)
        self._maybe_write_status(now)
        self._watch_signer()
        if self.heartbeat is not None:
            self.heartbeat()
        self.cpu.lap()

    def close(self) -> None:
        for inflight in self._inflight.values():
            inflight.call.cancel()
        self._inflight.clear()
        self._rpc_pool.shutdown(wait=False, cancel_futures=True)
        parts: list[Messenger | Signer] = [self.messenger]
        if self._signing.close(SIGNER_CLOSE_WAIT):
            parts.append(self.signer)
        else:
            busy = self._signing.busy_for()
            log.warning("signer: the signature asked for at height %s has not returned; stopping "
                        "without closing the signer", busy[0] if busy else "?")
        for part in parts:
            try:
                part.close()
            except Exception as exc:  # closing must not hide the reason we stopped
                log.warning("closing %s failed: %s", type(part).__name__, exc)
        if self._selector is not None:
            self._selector.close()
        if isinstance(self.inbox, _Inbox):
            self.inbox.close()

    def status(self) -> dict[str, Any]:
        """What ``oceanfed status`` shows: the machine's view plus the driver's health."""
        return {
            "member": self.machine.cfg.names[self.machine.cfg.me],
            **self.view.status(),
            "time": self.clock(),
            "wall_time": time.time(),
            "last_node_ok": self.last_node_ok,
            "rpc_errors": self.rpc_errors,
            "messages_received": self.messages_received,
            "frames_dropped": self.drops.total(),
            "messenger": self.messenger.stats(),
            "pid": os.getpid(),
            "cpu_seconds": {k: round(v, 6) for k, v in self.cpu.seconds().items()},
            "signer_busy": self.signer_busy(),
            "signs_superseded": self.signs_superseded,
            "state_written_back": self.state_written_back,
        }

    @property
    def state_written_back(self) -> int:
        """How often the state was found removed from disk and written back."""
        return self.store.written_back if self.store is not None else 0

    @property
    def signs_superseded(self) -> int:
        """Signature requests dropped unstarted: a newer height's took their place."""
        return self._signing.superseded

    def signer_busy(self) -> dict[str, float] | None:
        """The signer call in progress, if any: its height and how long it has run (s)."""
        busy = self._signing.busy_for()
        return None if busy is None else {"height": busy[0], "seconds": round(busy[1], 3)}

    def _watch_signer(self) -> None:
        """Say once when a signer call has run past :attr:`signer_stuck_after`, and once
        when such a call returns: a hung token is otherwise silent."""
        busy = self._signing.busy_for()
        if busy is not None and busy[1] >= self.signer_stuck_after:
            if self._stuck_reported != busy[0]:
                self._stuck_reported = busy[0]
                log.error("signer: the signature asked for at height %d has not returned for %.0f s; "
                          "this member signs nothing until it does (is the token or HSM hung?)",
                          busy[0], busy[1])
        elif self._stuck_reported is not None and (busy is None or busy[0] != self._stuck_reported):
            log.warning("signer: the call for height %d has returned; signing again",
                        self._stuck_reported)
            self._stuck_reported = None

    def _publish_view(self) -> None:
        """Hand other threads (metrics, ``/status``) a fresh copy of the machine's state.

        The loop does so at most every VIEW_INTERVAL and at least that often while the
        state may have changed (a copy per event cost more than the event's own checks)."""
        self.view = self.cpu.timed("status", self.machine.snapshot)
        self._view_owed = False
        self._next_view = self.clock() + VIEW_INTERVAL

    def _maybe_write_status(self, now: float) -> None:
        """Every STATUS_INTERVAL, have status.json rewritten from a fresh view, on the
        status thread: a file write stalls its thread for milliseconds on a busy disk."""
        if self.status_path is not None and now >= self._next_status:
            self._next_status = now + STATUS_INTERVAL
            if self._view_owed:
                self._publish_view()
            if self._status_thread is None:
                self._status_thread = threading.Thread(
                    target=self._status_writer, name="status", daemon=True
                )
                self._status_thread.start()
            self._status_due.set()

    def _status_writer(self) -> None:
        """The status thread: writes status.json each time the loop asks, until it stops."""
        while True:
            self._status_due.wait()
            self._status_due.clear()
            if self._status_thread is None:  # the loop has ended: it writes the last one
                return
            self._write_status()

    def _end_status_writer(self) -> None:
        thread, self._status_thread = self._status_thread, None
        if thread is not None:
            self._status_due.set()
            thread.join(timeout=5)

    def _write_status(self, stopped: bool = False) -> None:
        if self.status_path is None:
            return
        try:
            self.cpu.call("status", self._status_file, self.status_path, stopped)
        except OSError as exc:
            log.warning("cannot write %s: %s", self.status_path, exc.strerror)

    def _status_file(self, path: Path, stopped: bool) -> None:
        write_status_file(path, {**self.status(), "running": not stopped},
                          ".last" if stopped else "")

    def _deliver(self, data: bytes, peer: str | None = None) -> None:
        """The messengers' ``deliver``: queue a frame within the inbox's byte budget.

        ``peer`` names the member whose connection carried the frame, when the transport
        knows it (it is not authenticated: the signature inside the frame is).
        """
        with self._inbox_lock:
            self._deliver_on_loop(data, peer)

    def _deliver_on_loop(self, data: bytes, peer: str | None = None) -> None:
        """:meth:`_deliver` without the inbox lock, for a messenger pumped on the loop
        thread (:meth:`Messenger.start_polled`): the loop is then the only thread that
        queues frames and gives their bytes back (:meth:`_on_frame`), so the budgets are
        kept exactly as under the lock, without taking it per frame."""
        self.messages_received += 1
        who = peer or UNKNOWN
        size = len(data)
        if size > wire.MAX_FRAME:
            self.drops.note(who, "too-large")
            return
        if data[:4] != wire.MAGIC:
            theirs = wire.version_of(data)
            if theirs is not None:
                self.drops.note(who, "wrong-version", detail=(
                    f"it speaks oceanfed wire version {theirs}, this member version {wire.VERSION}"))
                return
        queued = self._queued
        mine = queued.get(who, 0)
        if (peer is not None and mine + size > self.inbox_peer_bytes
                or self._queued_total + size > self.inbox_bytes):
            self.drops.note(who, "inbox-full")
            return
        queued[who] = mine + size
        self._queued_total += size
        self.inbox.put(_Frame(E.Received(data), who, size))

    def inbox_usage(self) -> dict[str, int]:
        """Bytes of received frames waiting for the loop, by peer (copying a dict of str
        keys holds the GIL throughout, so this is whole also while the loop updates it
        without the lock)."""
        with self._inbox_lock:
            return dict(self._queued)

    def _release(self, frame: _Frame) -> None:
        """Give ``frame``'s bytes back to the inbox budgets (under the inbox lock unless
        frames are queued on the loop thread)."""
        left = self._queued.get(frame.peer, 0) - frame.size
        if left > 0:
            self._queued[frame.peer] = left
        else:
            self._queued.pop(frame.peer, None)
        self._queued_total -= frame.size

    def _on_frame(self, frame: _Frame) -> None:
        """Handle one received frame; whatever it makes the machine raise drops it alone."""
        if self._selector is None:  # queued by a receiver thread
            with self._inbox_lock:
                self._release(frame)
        else:  # queued on this thread (_deliver_on_loop)
            self._release(frame)
        dropped = self._dropped.raised
        dropped.clear()
        try:
            actions = self.cpu.timed("machine", self.machine.handle, frame.event, self.clock())
        except Exception as exc:  # one frame must never stop the member
            self.drops.note(frame.peer, f"error:{type(exc).__name__}")
            return
        for key, n in dropped:
            self.drops.note(frame.peer, key.reason, n)
        dropped.clear()
        self._execute(actions)

    # ---------------------------------------------------------------- actions

    def _execute(self, actions: list[A.Action]) -> None:
        if not actions:  # most frames only add to a tally
            return
        pending: dict[str, Any] | None = None
        for action in coalesce_persists(actions):
            if isinstance(action, A.Persist):
                pending = action.record
                continue
            if isinstance(action, A.Log):
                h = self.machine.h
                where = {"height": h.height, "round": h.round} if h is not None else {}
                log.log(logging.getLevelName(action.level.upper()), action.message,
                        extra={**where, **action.fields})
                continue
            if isinstance(action, A.Observation):
                self._notify(action)
                continue
            if pending is not None:
                # flushed before anything leaves the process
                self.cpu.call("persistence", self.store.save, pending)
                pending = None
            if isinstance(action, A.Broadcast):
                try:
                    self.cpu.call("messenger", self.messenger.broadcast, action.data)
                except OceanfedError as exc:
                    log.warning("messenger: %s", exc)
            elif isinstance(action, A.QueryTip):
                if not (self._anchor_wall is not None and self._on_loop(
                    "getblockchaininfo", (), _is_chain_info, self._tip_from,
                    partial(self._post_failure, "tip", -1),
                )):
                    self._rpc_pool.submit(self._query_tip)
            elif isinstance(action, A.BuildProposal):
                if self._has_hook("oceanfed_proposal_extras") or not self._on_loop(
                    "getnewblockhex", (), is_hex, partial(self._built, action),
                    partial(self._post_failure, "build", action.height),
                ):
                    self._rpc_pool.submit(self._build, action)
            elif isinstance(action, A.Validate):
                if self._has_hook("oceanfed_validate_proposal") or not self._on_loop(
                    "testproposedblock", (action.block_hex,), None,
                    partial(self._node_passed, action), partial(self._verdict, action),
                ):
                    self._rpc_pool.submit(self._validate, action)
            elif isinstance(action, A.Sign):
                if self._sign_inline and not action.extras:
                    self._sign(action, inline=True)  # no hand-off for a few microseconds
                else:
                    self._signing.submit(action)
            elif isinstance(action, A.Submit) and (
                self._has_hook("oceanfed_block_complete") or not self._on_loop(
                    "submitblock", (action.block_hex,), _is_submit_answer,
                    partial(self._submitted, action),
                    partial(self._post_failure, "submit", action.height),
                )
            ):
                self._rpc_pool.submit(self._submit, action)
        if pending is not None:
            self.cpu.call("persistence", self.store.save, pending)

    def _notify(self, action: A.Observation) -> None:
        if isinstance(action, A.BlockSubmitted) and action.result == "accepted":
            block = self.machine.last_block
            if block is not None:
                if log.isEnabledFor(logging.INFO):
                    _log_accepted(block)
                if self.on_block is not None:
                    # what on_block records (metrics) and the view agree: the view shows it
                    self._publish_view()
                    self.on_block(block)
        if self.hooks is None:
            return
        caller = getattr(self.hooks.hook, hookspecs.PREFIX + action.hook)
        if not caller.get_hookimpls():
            return  # nobody listens: skip the call's overhead (a few µs, several per block)
        try:
            caller(**action.kwargs())
        except Exception as exc:  # an observer must not stop the federation
            log.warning("hook %s failed: %s", action.hook, exc, exc_info=exc, extra={"hook": action.hook})

    def _call(self, method: str, *params: Any, expect: Callable[[Any], bool] | None = None) -> Any:
        """Call the node; an answer failing ``expect`` is a failure like no answer at all.

        Failures without a usable answer (no connection, garbage, warm-up) belong to the
        :class:`NodeOutage`, which logs them once and spaces out the calls that follow.
        """
        self.node_outage.gate(method)
        sent_at = self.node_outage.clock()
        try:
            result = self.cpu.call("rpc", self.node.call, method, *params)
        except RPCError as exc:
            self._failed(exc, sent_at)
            raise
        return self._answered(method, result, sent_at, expect)

    def _failed(self, exc: RPCError, sent_at: float) -> None:
        """A node call raised ``exc``: count it, and tell the outage what it says."""
        self.rpc_errors += 1
        if exc.code == RPC_IN_WARMUP:  # reachable, but not usable yet: not "ok"
            self.node_outage.failed(warmup_message(exc), starting=True)
        elif exc.code is None:
            self.node_outage.failed(str(exc))
        else:  # the node answered, with an error: it is reachable
            self.node_outage.ok(sent_at)
            self.last_node_ok = self.clock()

    def _answered(
        self, method: str, result: Any, sent_at: float, expect: Callable[[Any], bool] | None
    ) -> Any:
        """A node call's ``result``, checked by ``expect`` (an RPCError if it fails)."""
        if expect is not None and not expect(result):
            self.rpc_errors += 1
            bad = RPCError(
                f"node at {self.node_outage.url} answered {method} with {_brief(result)}",
                None, method,
            )
            self.node_outage.failed(str(bad))
            raise bad
        self.node_outage.ok(sent_at)
        self.last_node_ok = self.clock()
        return result

    def _has_hook(self, name: str) -> bool:
        """Whether a plugin implements hook ``name`` (which may block: not on the loop),
        leaving out plugins that say each of their hooks does nothing now (``idle``)."""
        return self.hooks is not None and any(
            not getattr(impl.plugin, "idle", False)
            for impl in getattr(self.hooks.hook, name).get_hookimpls()
        )

    def _on_loop(
        self, method: str, params: tuple[Any, ...], expect: Callable[[Any], bool] | None,
        then: Callable[[Any], None], failed: Callable[[RPCError], None],
    ) -> bool:
        """Start a node call that the loop itself carries, without a thread: the request
        is written on the loop's kept-alive connection and the answer read as the
        connection becomes ready, in the loop's own wait (see :class:`oceanfed.rpc.LoopCall`).
        ``then(result)`` or ``failed(error)`` follow on the loop, exactly as on a thread.

        False, with nothing sent, where it cannot: the loop does not wait on fds (a threaded
        messenger), a call is already in flight, the node is in an outage (its backoff is
        the threads'), or the client has no connection for the loop yet.
        """
        begin = getattr(self.node, "begin", None)
        if (
            begin is None or self._selector is None or len(self._inflight) >= LOOP_CALLS
            or self.node_outage.since is not None
        ):
            return False
        sent_at = self.node_outage.clock()
        # the request is timed exactly: the send wakes the node, and the loop's wall time
        # while the kernel runs the node instead is no CPU of ours (see cpuacct)
        call = self.cpu.call("rpc", begin, method, *params)
        if call is None:
            return False
        sock = call.conn.sock
        inflight = _InFlight(call, sock, sent_at, expect, then, failed)
        self._inflight[call.fd] = inflight
        events = _events(call)
        if self._selector.idle.pop(call.fd, None) is not sock or events != select.EPOLLIN:
            self._selector.add(call.fd, events)  # else watched since its last call
        if call.writing:
            self._writing.add(call.fd)
        self.cpu.timed("rpc", self._advance, inflight)  # the node may have answered already
        return True

    def _advance_all(self, ready: list[int]) -> float:
        """Move on the loop's calls whose fd is ready or whose deadline passed; the
        seconds until the next deadline of those still in flight."""
        now = time.monotonic()
        for fd, inflight in list(self._inflight.items()):
            if fd in ready or now >= inflight.call.deadline:
                self.cpu.timed("rpc", self._advance, inflight)
        if not self._inflight:
            return float("inf")
        return max(0.0, min(i.call.deadline for i in self._inflight.values()) - now)

    def _advance(self, inflight: _InFlight) -> None:
        """Move the loop's call on; once it has ended, settle it."""
        call = inflight.call
        assert self._selector is not None
        poller, fd = self._selector, call.fd
        if not call.progress():
            if fd in self._writing and not call.writing:  # the request is out: read only
                self._writing.discard(fd)
                poller.ep.modify(fd, select.EPOLLIN)
            return
        del self._inflight[fd]
        if fd in self._writing:
            self._writing.discard(fd)
            poller.drop(fd)
        elif call.failure is None:  # the connection is the loop's again (or was closed)
            poller.idle[fd] = inflight.sock
        if call.failure is not None:  # the retry rules, with their pauses, on a thread
            self._rpc_pool.submit(self._settle, inflight, True)
        else:
            self._settle(inflight, False)

    def _settle(self, inflight: _InFlight, resume: bool) -> None:
        """What follows a loop call's end, as :meth:`_call` does (``resume``: on a
        thread, the retries of a call whose attempt on the loop failed)."""
        call = inflight.call
        try:
            # (on the loop, within _advance's rpc section)
            result = self.cpu.call("rpc", self.node.resume, call) if resume else call.result()
        except RPCError as exc:
            self._failed(exc, inflight.sent_at)
            inflight.failed(exc)
            return
        try:
            result = self._answered(call.method, result, inflight.sent_at, inflight.expect)
        except RPCError as exc:
            inflight.failed(exc)
            return
        inflight.then(result)

    def _post_failure(self, what: str, height: int, exc: Exception) -> None:
        if isinstance(exc, RPCError) and exc.code in (None, RPC_IN_WARMUP):
            log.debug("node call for %s failed: %s", what, exc,
                      extra={"height": height, "call": what})  # logged once per outage
        else:
            log.warning("node call for %s failed: %s", what, exc,
                        extra={"height": height, "call": what})
        self.inbox.put(E.NodeFailed(what, height, str(exc)))

    def _query_tip(self) -> None:
        try:
            # one call: the node reads its tip's height and hash under one lock
            self._tip_from(self._call("getblockchaininfo", expect=_is_chain_info))
        except (RPCError, KeyError, TypeError, ValueError) as exc:
            self._post_failure("tip", -1, exc)

    def _tip_from(self, info: dict[str, Any]) -> None:
        """The tip ``getblockchaininfo`` names to the machine (with the anchor time, which
        takes two more calls the first time: never on the loop, which knows it then)."""
        height, best = info["blocks"], info["bestblockhash"]
        if self._anchor_wall is None and height >= 1:
            h1 = self._call(
                "getblockheader", self._call("getblockhash", 1, expect=_is_hash),
                expect=_is_header,
            )
            self._anchor_wall = int(h1["time"])
        # the block's time is wall time: the machine's clock is not (see oceanfed.steadyclock)
        anchor = None if self._anchor_wall is None else from_wall(self._anchor_wall, self.clock)
        self.inbox.put(E.NodeTip(height, best, anchor))

    def _build(self, action: A.BuildProposal) -> None:
        try:
            block_hex = self._call("getnewblockhex", expect=is_hex)
        except RPCError as exc:
            self._post_failure("build", action.height, exc)
            return
        extras = self._merged_hook("oceanfed_proposal_extras", height=action.height, block_hex=block_hex)
        if extras is None:
            self._post_failure("build", action.height, OceanfedError("a plugin could not build its extras"))
            return
        self.inbox.put(E.ProposalBuilt(action.height, action.round, block_hex, extras))

    def _built(self, action: A.BuildProposal, block_hex: str) -> None:
        """The node built the proposal on the loop's call (no plugin adds extras to it)."""
        self.inbox.put(E.ProposalBuilt(action.height, action.round, block_hex, {}))

    def _merged_hook(self, name: str, **kwargs: Any) -> dict[str, Any] | None:
        """Call a hook whose answers are dicts keyed by plugin; merge them (None on error)."""
        if self.hooks is None:
            return {}
        try:
            answers = getattr(self.hooks.hook, name)(**kwargs)
        except FatalError as exc:
            self._fail(str(exc))
            return None
        except Exception as exc:  # a plugin failure costs this round, not the process
            log.error("hook %s failed: %s", name, exc, exc_info=exc, extra={"hook": name})
            return None
        merged: dict[str, Any] = {}
        for answer in answers:
            if answer:
                merged.update(answer)
        return merged

    def _fail(self, message: str) -> None:
        """A plugin asked the member to stop: remember why and end the loop."""
        log.critical("stopping: %s", message)
        self.fatal = message
        self.stop()

    def _validate(self, action: A.Validate) -> None:
        """Ask the node and the veto hooks about a proposal.

        Only a verdict on the block itself becomes ``Validated(reason)``: the node refusing it
        (RPC_VERIFY_ERROR -25, or -22 when it cannot decode it) or a hook's veto string. Any
        other failure (the node warming up with -28, -1, HTTP 401/500, no answer, a hook that
        raises) says nothing about the block: it is a ``NodeFailed`` the machine retries.
        """
        try:
            self._call("testproposedblock", action.block_hex)
        except RPCError as exc:
            self._verdict(action, exc)
            return
        reason = None
        if self.hooks is not None:
            try:
                reason = self.hooks.hook.oceanfed_validate_proposal(
                    height=action.height, block_hex=action.block_hex, extras=action.extras
                ) or None  # firstresult: the first reason given
            except FatalError as exc:
                self._fail(str(exc))
                return
            except Exception as exc:  # a plugin failure is not a verdict: ask again later
                self._post_failure("validate", action.height,
                                   OceanfedError(f"hook validate_proposal failed: {exc}"))
                return
        self.inbox.put(E.Validated(action.height, action.block_hash, reason))

    def _node_passed(self, action: A.Validate, _: Any) -> None:
        """The node found nothing wrong with the block (and no hook may veto it)."""
        self.inbox.put(E.Validated(action.height, action.block_hash, None))

    def _verdict(self, action: A.Validate, exc: RPCError) -> None:
        """``testproposedblock`` failed with ``exc``: a verdict on the block (-25, -22),
        or a failure the machine retries (anything else)."""
        if exc.code in BLOCK_VERDICT_CODES:
            self.inbox.put(E.Validated(action.height, action.block_hash, _slug(str(exc))))
        else:
            self._post_failure("validate", action.height, exc)

    def _sign(self, action: A.Sign, inline: bool = False) -> None:
        """Sign the decided block; on the loop itself (``inline``) for a signer that does
        not block (:attr:`Signer.blocking`), else on the signing thread."""
        request = SignRequest(action.height, action.digest, action.preimage, action.block_hex)
        try:
            # a signer that does not block is timed as the loop's other non-blocking work
            timer = self.cpu.timed if inline else self.cpu.call
            der = crypto.to_low_s_der(timer("signer", self.signer.sign, request))
        except BlockComplete as exc:
            # the others completed the block first: the normal end of this height for a
            # slower signer. The node's tip moves the machine on; only if it has not moved
            # does the failure below reach the machine (which retries).
            log.info("height %d: %s; moving on", action.height, exc)
            if inline:  # the node call must not hold the loop: the tip comes from an RPC thread
                self._rpc_pool.submit(self._query_tip)
            else:
                self._query_tip()
            self.inbox.put(E.Signed(action.height, action.block_hash, None, str(exc)))
            return
        except Exception as exc:  # any signer failure is reported, never raised into the loop
            self.inbox.put(E.Signed(action.height, action.block_hash, None, str(exc)))
            return
        extra: dict[str, Any] = {}
        if action.extras:
            extra = self._merged_hook("oceanfed_sign_extras", height=action.height,
                                      block_hash=action.block_hash, extras=action.extras) or {}
        self.inbox.put(E.Signed(action.height, action.block_hash, der, None, extra))

    def _submit(self, action: A.Submit) -> None:
        try:
            result = self._call("submitblock", action.block_hex, expect=_is_submit_answer)
        except RPCError as exc:
            self._post_failure("submit", action.height, exc)
            return
        self._submitted(action, result)

    def _submitted(self, action: A.Submit, result: Any) -> None:
        if result in (None, "duplicate") and self.hooks is not None:
            try:
                self.hooks.hook.oceanfed_block_complete(
                    height=action.height, block_hash=action.block_hash,
                    extras=action.extras, extra_sigs=action.extra_sigs,
                )
            except FatalError as exc:
                self._fail(str(exc))
            except Exception as exc:
                log.error("hook block_complete failed: %s", exc, exc_info=exc,
                          extra={"hook": "block_complete", "height": action.height,
                                 "block": action.block_hash})
        self.inbox.put(E.Submitted(action.height, action.block_hash, result))


def _log_accepted(block: dict[str, Any]) -> None:
    """The INFO line of each block accepted, built as ``Logger.info`` builds it less its
    search of the stack for the caller's file and line, which no formatter of ours shows
    and which cost a fifth of the line."""
    signers = ",".join(block["signers"])
    log.handle(log.makeRecord(
        log.name, logging.INFO, __file__, 0,
        "block %d %s accepted (proposer %s, round %d, signers %s, %.1f ms)",
        (block["height"], block["hash"][:16], block["proposer"], block["round"], signers,
         block["latency"] * 1000),
        None, "_notify",
        {"height": block["height"], "round": block["round"], "block": block["hash"],
         "proposer": block["proposer"], "signers": signers},
    ))


def write_status_file(path: Path, data: dict[str, Any], writer: str = "") -> None:
    """Replace ``path`` (status.json) with ``data`` as JSON: readers see the old file or
    the new one, never a part.

    Neither the file nor its directory is flushed to disk: status.json is not state, it is
    rewritten four times a second, and a flush cost more CPU than the rest of the write
    (after a power loss the member writes it anew within a quarter of a second). Each
    ``writer`` has its own temporary file (the status thread, and the loop's last write as
    it stops, which does not wait long for a status thread stuck on a stalled disk).
    """
    payload = to_json(data)  # (5 times json.dumps's speed on the 20 kB of a busy member)
    tmp = path.with_name(f".{path.name}{writer}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fd, 0o644)  # whatever the umask: other users' tools may read it
            fh.write(payload)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def warmup_message(exc: RPCError) -> str:
    """The node's own words in a warm-up error (``Loading block index...``)."""
    text = str(exc)
    if exc.method and text.startswith(f"{exc.method}: "):
        text = text[len(exc.method) + 2 :]
    return text.removesuffix(f" (code {exc.code})")


def _is_hash(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 64 and is_hex(value)


def _is_chain_info(value: Any) -> bool:
    """``getblockchaininfo`` naming the tip: ``blocks`` (its height) and ``bestblockhash``."""
    if not isinstance(value, dict):
        return False
    height = value.get("blocks")
    return (
        isinstance(height, int) and not isinstance(height, bool) and height >= 0
        and _is_hash(value.get("bestblockhash"))
    )


def _is_header(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    height, when = value.get("height"), value.get("time")
    return (
        isinstance(height, int) and not isinstance(height, bool) and height >= 0
        and isinstance(when, int) and not isinstance(when, bool)
    )


def _is_submit_answer(value: Any) -> bool:
    """``submitblock`` answers null when accepted, else a short reason string."""
    return value is None or isinstance(value, str)


def _brief(value: Any) -> str:
    """A short description of an unusable answer, for the log."""
    if value is None:
        return "null"
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}{'…' if len(text) > 40 else ''}"


def _slug(message: str) -> str:
    """A short reason from a node error message (``bad-txnmrklroot``, ``stale``…)."""
    text = re.sub(r"\s*\(code -?\d+\)\s*$", "", message.lower())
    if "decode failed" in text:
        return "undecodable"
    if "not based on our best chain" in text:
        return "stale"
    if "already have block" in text:
        return "already-have-block"
    words = text.replace(":", " ").split()
    return next((w for w in words if "-" in w), words[-1] if words else "rejected")
