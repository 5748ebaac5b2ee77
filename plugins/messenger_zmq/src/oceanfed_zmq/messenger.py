"""A full-mesh ZeroMQ messenger: each member binds one PUB and subscribes to every peer.

``broadcast`` sends on the PUB socket under a lock (it may be called from any thread and
never blocks: a slow peer's queue drops at the high-water mark). Started with ``start``, a
receiver thread blocks in ``zmq.Poller`` on one SUB socket per peer, the socket monitors and a
control pipe, and hands every frame to ``deliver`` with the name of the peer whose socket
carried it. Started with ``start_polled`` (the driver does), there is no receiver thread: the
driver's loop waits on the sockets' ``zmq.FD`` and calls ``pump``, which does the same work on
the loop thread (every socket is then used by that thread alone), saving a thread hand-off
per frame. ZeroMQ reconnects by itself when a peer restarts; the monitors count reconnects
for :meth:`ZmqMessenger.stats`.

What a peer's address (or whoever holds it) can send is bounded:

* a frame over ``max_message_bytes`` is refused by libzmq, which drops the connection as a
  protocol error and would never reconnect: the receiver sees the disconnect without a
  retry and reconnects that peer itself (``link_resets`` in the stats), with backoff;
* each peer's socket queues at most ``rcvhwm`` frames (so ``rcvhwm × max_message_bytes``
  bytes), then TCP pushes back on the sender;
* the PUB side is an XPUB in manual mode: a subscriber gets one subscription however many
  it sends. libzmq still files every subscription message in a trie of its own, one node per
  byte, as long as the subscriber stays, and takes in all a pipe holds each time the socket
  is used (a subscriber that keeps the pipe full keeps it reading). So what a subscriber
  may send is held short: a message is at most what the handshake needs (64 bytes, 512 with
  CURVE), libzmq queues 2 of them per subscriber, and after 64 KiB of subscriptions the socket
  is bound afresh. Large frames are sent without copying, so a slow subscriber's queue
  (``sndhwm`` frames) shares the buffers of frames gossiped repeatedly.

With CURVE configured, the PUB socket is a CURVE server whose ZAP handler admits only the
other members' public keys, and each SUB connection checks its peer's server key.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Collection, Mapping
from functools import partial
from typing import Any, cast

from zmq.auth.thread import ThreadAuthenticator
from zmq.utils.monitor import recv_monitor_message

import zmq
from oceanfed.errors import ConfigError, MessengerError
from oceanfed.interfaces import Deliver, Messenger, PluginContext, PluginOptions
from oceanfed.keyfile import allows_group_readable, resolve_path

from .options import ZmqOptions, curve_public_of, read_curve_secret

_MONITOR_EVENTS = (
    zmq.EVENT_CONNECT_RETRIED
    | zmq.EVENT_HANDSHAKE_SUCCEEDED
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_DISCONNECTED
)
_HANDSHAKE_FAILED = (
    zmq.EVENT_HANDSHAKE_FAILED_AUTH,
    zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL,
)
_ZAP_DOMAIN = b"oceanfed"
#: plain ints: pyzmq's enum members cost an enum operation (about 1 us) per ``&``
_EVENTS, _POLLIN, _RCVMORE, _NOBLOCK = int(zmq.EVENTS), int(zmq.POLLIN), int(zmq.RCVMORE), int(zmq.NOBLOCK)
_instances = itertools.count()
#: frames of at least this many bytes are sent without a copy (pyzmq copies smaller ones anyway)
_ZERO_COPY_MIN = zmq.COPY_THRESHOLD
#: the receiver wakes at least this often (ms) to serve subscriptions and check links
_TICK_MS = 100
#: frames taken from one peer's socket before the others get a turn
_BATCH = 64
#: largest message a subscriber may send to our PUB: subscriptions are one byte, but libzmq
#: holds the handshake to the same limit (a SUB's READY is 25 bytes, its CURVE INITIATE 276).
#: Each byte of a distinct subscription costs libzmq a trie node of about 32 bytes.
_PUB_MAX_IN = 64
_PUB_MAX_IN_CURVE = 512
#: each warning that a peer or a stranger can cause (a link reset, per peer; a rebind; a
#: refused subscriber) at most once in this many seconds (:meth:`ZmqMessenger._warn_rarely`)
_WARN_EVERY = 60.0
#: subscriptions queued from one subscriber before TCP pushes back. libzmq files all a pipe
#: holds whenever the socket is used, and keeps reading while the subscriber refills it, so
#: the queue is kept as short as works: under ZAP (CURVE) a credential takes one place for good
_PUB_RCVHWM = 2
#: bytes of subscriptions one PUB socket takes before it is bound afresh
_SUBSCRIPTION_BUDGET = 64 * 1024


class _Link:
    """One peer's SUB socket, its monitor, and what the receiver knows of its state."""

    def __init__(self, name: str, address: str, sock: zmq.Socket[Any], mon: zmq.Socket[Any]):
        self.name = name
        self.address = address
        self.sock = sock
        self.mon = mon
        #: monotonic time of a disconnect or failed handshake libzmq has not retried yet
        self.dead_since: float | None = None
        #: consecutive resets without a frame in between (for the backoff)
        self.backoff = 0
        self.resets = 0
        #: the sockets' zmq.FD (polled mode)
        self.fd = -1
        self.mon_fd = -1


class _AllowedKeys:
    """ZAP credentials provider: admits only the listed Z85 public keys."""

    def __init__(self, keys: dict[bytes, str]):
        self._keys = keys

    def callback(self, domain: str, key: bytes) -> bool:
        return key in self._keys


class ZmqMessenger(Messenger):
    """PUB/SUB mesh over ZeroMQ for any number of members."""

    Options = ZmqOptions
    GAUGES = frozenset({"peers_connected"})

    def __init__(self, options: PluginOptions, context: PluginContext):
        super().__init__(options, context)
        assert isinstance(options, ZmqOptions)
        self.opts = options
        self.log = context.logger.getChild("zmq")
        me = context.me.name
        others = [m.name for m in context.members if m.name != me]
        self._peers = self._check_names("messenger.peers", options.peers, others, me)
        self._endpoint_names = {addr: name for name, addr in self._peers.items()}
        self._curve: tuple[bytes, bytes, dict[str, bytes]] | None = None
        if options.curve_public_keys is not None and options.curve_secret_key_file is not None:
            self._curve = self._load_curve(options, context, others + [me])
        self._lock = threading.Lock()
        self._ctx: zmq.Context[Any] | None = None
        self._pub: zmq.Socket[Any] | None = None
        self._auth: ThreadAuthenticator | None = None
        self._thread: threading.Thread | None = None
        self._ctrl: zmq.Socket[Any] | None = None
        self._receiver: tuple[zmq.Socket[Any], ...] = ()
        self._links: list[_Link] = []
        self._ever_up: set[str] = set()
        self._up: set[str] = set()
        #: time.monotonic() since when no peer connection has been up (None: some is up)
        self._alone_since: float | None = None
        self._warned: set[str] = set()
        self._counts = {
            "sent": 0,
            "received": 0,
            "dropped": 0,
            "reconnects": 0,
            "disconnects": 0,
            "handshake_failures": 0,
            "auth_failures": 0,
            "link_resets": 0,
            "pub_resets": 0,
        }
        self._sub_bytes = 0
        #: when each rate-limited warning was last given, by its key (see _warn_rarely)
        self._warned_at: dict[str, float] = {}
        #: polled mode (see start_polled): deliver, the fds to wait on, the next housekeeping
        self._deliver: Deliver | None = None
        self._fds: tuple[int, ...] = ()
        self._tick_fds: tuple[int, ...] = ()
        self._fd_links: dict[int, _Link] = {}
        self._mon_links: dict[int, _Link] = {}
        #: links whose frames may wait without their FD being readable (a batch left some;
        #: the link was reset)
        self._pending: set[_Link] = set()
        self._pub_fds = (-1, -1)
        self._next_tick = 0.0
        #: a send took the PUB's FD signal of subscriptions waiting: serve them before waiting
        self._sent_since_served = False
        self._polled = False

    @staticmethod
    def _check_names(
        field: str, table: dict[str, str], others: list[str], me: str
    ) -> dict[str, str]:
        for name in table:
            if name == me:
                raise ConfigError(f"{field}.{name}: that is this member; list only the others")
            if name not in others:
                raise ConfigError(
                    f"{field}.{name}: not a member of the federation "
                    f"(members: {', '.join([me, *others])})"
                )
        missing = [n for n in others if n not in table]
        if missing:
            raise ConfigError(f"{field}: missing member(s) {', '.join(map(repr, missing))}")
        return dict(table)

    def _load_curve(
        self, options: ZmqOptions, context: PluginContext, members: list[str]
    ) -> tuple[bytes, bytes, dict[str, bytes]]:
        assert options.curve_public_keys is not None and options.curve_secret_key_file is not None
        keys = options.curve_public_keys
        me = context.me.name
        for name in keys:
            if name not in members:
                raise ConfigError(
                    f"messenger.curve_public_keys.{name}: not a member of the federation"
                )
        missing = [n for n in members if n not in keys]
        if missing:
            raise ConfigError(
                f"messenger.curve_public_keys: missing member(s) {', '.join(map(repr, missing))}"
            )
        path = resolve_path(context.base_dir, options.curve_secret_key_file)
        secret = read_curve_secret(path, allows_group_readable(options.curve_secret_key_file))
        public = curve_public_of(secret)
        if public != keys[me].encode("ascii"):
            raise ConfigError(
                f"messenger.curve_public_keys.{me}: does not match the key in {path} "
                f"(its public key is {public.decode()})"
            )
        return secret, public, {n: k.encode("ascii") for n, k in keys.items()}

    # -- life cycle -----------------------------------------------------------------------

    def start(self, deliver: Deliver) -> None:
        self._start(deliver, polled=False)

    def start_polled(self, deliver: Deliver) -> bool:
        """Open without a receiver thread: the calling thread waits on :meth:`poll_fds` and
        calls :meth:`pump`, and must be the only one to (ZeroMQ sockets are not thread-safe;
        :meth:`broadcast` stays safe from any thread)."""
        self._start(deliver, polled=True)
        return True

    def _start(self, deliver: Deliver, polled: bool) -> None:
        if self._ctx is not None:
            raise MessengerError("messenger: already started")
        ctx: zmq.Context[Any] = zmq.Context(io_threads=1)
        self._ctx = ctx
        self._alone_since = time.monotonic() if self._peers else None
        try:
            self._open(ctx, deliver, polled)
        except BaseException:
            self._teardown()
            raise

    def _configure(self, sock: zmq.Socket[Any]) -> None:
        o = self.opts
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RECONNECT_IVL, o.reconnect_ivl_ms)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, o.reconnect_ivl_max_ms)
        if o.heartbeat_ivl_ms:
            sock.setsockopt(zmq.HEARTBEAT_IVL, o.heartbeat_ivl_ms)
            sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, 3 * o.heartbeat_ivl_ms)
        if self._curve is not None:
            secret, public, _ = self._curve
            sock.setsockopt(zmq.CURVE_SECRETKEY, secret)
            sock.setsockopt(zmq.CURVE_PUBLICKEY, public)

    def _open(self, ctx: zmq.Context[Any], deliver: Deliver, polled: bool) -> None:
        o = self.opts
        me = self.context.me.name
        if self._curve is not None:
            allowed = {k: n for n, k in self._curve[2].items() if n != me}
            self._auth = ThreadAuthenticator(ctx, log=self.log.getChild("zap"))
            self._auth.start()
            self._auth.configure_curve_callback(
                _ZAP_DOMAIN.decode(), credentials_provider=_AllowedKeys(allowed)
            )

        self._pub, pub_mon = self._open_pub(ctx)

        if polled:
            self._receiver = (pub_mon,)
        else:
            ctrl_addr = f"inproc://oceanfed-zmq-ctrl-{next(_instances)}"
            ctrl_rx = ctx.socket(zmq.PAIR)
            ctrl_rx.bind(ctrl_addr)
            self._ctrl = ctx.socket(zmq.PAIR)
            self._ctrl.connect(ctrl_addr)
            self._receiver = (pub_mon, ctrl_rx)
        for name, address in self._peers.items():
            sub = ctx.socket(zmq.SUB)
            self._configure(sub)
            sub.setsockopt(zmq.RCVHWM, o.rcvhwm)
            sub.setsockopt(zmq.MAXMSGSIZE, o.max_message_bytes)
            sub.setsockopt(zmq.SUBSCRIBE, b"")
            if self._curve is not None:
                sub.setsockopt(zmq.CURVE_SERVERKEY, self._curve[2][name])
            link = _Link(name, address, sub, sub.get_monitor_socket(_MONITOR_EVENTS))
            self._links.append(link)
            try:
                sub.connect(address)
            except zmq.ZMQError as exc:
                raise MessengerError(
                    f"messenger.peers.{name}: cannot connect to {address} ({exc.strerror})"
                ) from None
        if polled:
            self._deliver = deliver
            self._polled = True
            for link in self._links:
                link.fd = cast(int, link.sock.get(zmq.FD))
                link.mon_fd = cast(int, link.mon.get(zmq.FD))
            self._note_fds()
        else:
            self._thread = threading.Thread(
                target=self._run, args=(deliver,), name=f"zmq-recv-{me}", daemon=True
            )
            self._thread.start()
        self.log.info(
            "zmq messenger bound to %s, subscribed to %d peer(s)%s",
            o.bind,
            len(self._peers),
            " with CURVE" if self._curve else "",
        )

    def _open_pub(self, ctx: zmq.Context[Any], attempts: int = 1) -> tuple[zmq.Socket[Any], zmq.Socket[Any]]:
        """Bind the XPUB socket and its monitor (retrying a busy address ``attempts`` times)."""
        o = self.opts
        pub = ctx.socket(zmq.XPUB)
        self._configure(pub)
        pub.setsockopt(zmq.SNDHWM, o.sndhwm)
        pub.setsockopt(zmq.XPUB_MANUAL, 1)
        pub.setsockopt(zmq.MAXMSGSIZE, _PUB_MAX_IN if self._curve is None else _PUB_MAX_IN_CURVE)
        pub.setsockopt(zmq.RCVHWM, _PUB_RCVHWM)
        if self._curve is not None:
            pub.setsockopt(zmq.CURVE_SERVER, 1)
            pub.setsockopt(zmq.ZAP_DOMAIN, _ZAP_DOMAIN)
        for attempt in range(attempts):
            try:
                pub.bind(o.bind)
                break
            except zmq.ZMQError as exc:
                if exc.errno == zmq.EADDRINUSE and attempt + 1 < attempts:
                    time.sleep(0.05)  # the socket we just closed still holds it
                    continue
                pub.close(linger=0)
                if exc.errno == zmq.EADDRINUSE:
                    raise MessengerError(f"messenger.bind: {o.bind} is already in use") from None
                raise MessengerError(f"messenger.bind: cannot bind {o.bind} ({exc.strerror})") from None
        self._sub_bytes = 0
        return pub, pub.get_monitor_socket(_MONITOR_EVENTS)

    def broadcast(self, data: bytes) -> None:
        with self._lock:
            pub = self._pub
            if pub is None:
                raise MessengerError("messenger: not started, or closed")
            try:
                # a large frame goes without a copy (gossiped again, it shares its buffer with
                # the queued ones); a small one is copied, as pyzmq would after more work
                pub.send(data, _NOBLOCK, copy=len(data) < _ZERO_COPY_MIN)
                self._counts["sent"] += 1
            except zmq.Again:
                self._counts["dropped"] += 1
            # the send may have taken the PUB's FD signal of subscriptions waiting: asking
            # now (one getsockopt) spares the pump a pass after every send that found none
            if self._polled and cast(int, pub.get(_EVENTS)) & _POLLIN:
                self._sent_since_served = True

    def _pub_fd(self) -> int | None:
        """The PUB socket's FD (readable when its state may have changed), if it is open."""
        with self._lock:
            pub = self._pub
            return None if pub is None else cast(int, pub.get(zmq.FD))

    def _serve_subscriptions(self) -> zmq.Socket[Any] | None:
        """Give each subscriber that asked the one subscription it can have (all frames).

        In manual mode libzmq files every subscription message a subscriber sends in a trie
        it keeps until that subscriber leaves, and queues the message until it is read. Once
        more than :data:`_SUBSCRIPTION_BUDGET` bytes of subscriptions arrived on one socket
        (peers send one byte per connection), the socket is closed and bound again: that
        frees them all, and the peers reconnect by themselves. Returns the new monitor
        socket when that happened.
        """
        with self._lock:
            pub = self._pub
            if pub is None:
                return None
            self._sent_since_served = False
            while self._sub_bytes <= _SUBSCRIPTION_BUDGET:
                # asking is cheaper than the exception an empty recv raises (every wakeup)
                if not cast(int, pub.get(_EVENTS)) & _POLLIN:
                    return None
                try:
                    msg = pub.recv(zmq.NOBLOCK)
                except zmq.Again:
                    return None
                self._sub_bytes += len(msg)
                if msg[:1] == b"\x01":
                    pub.setsockopt(zmq.SUBSCRIBE, b"")  # for the pipe that sent msg
            if self._ctx is None:
                return None
            with contextlib.suppress(zmq.ZMQError):
                pub.disable_monitor()
            pub.close(linger=0)
            self._pub = None
            self._counts["pub_resets"] += 1
            self._warn_rarely(
                "rebind",
                "more than %d bytes of subscriptions arrived on %s (a subscription flood?): "
                "rebinding it (%d time(s) so far)",
                _SUBSCRIPTION_BUDGET, self.opts.bind, self._counts["pub_resets"],
            )
            self._pub, mon = self._open_pub(self._ctx, attempts=40)
            return mon

    def close(self) -> None:
        self._deliver = None
        if self._ctrl is not None and self._thread is not None:
            self._ctrl.send(b"stop")
            self._thread.join(timeout=10)
        self._teardown()

    def _teardown(self) -> None:
        with self._lock:
            pub, self._pub = self._pub, None
        if pub is not None:
            with contextlib.suppress(zmq.ZMQError):
                pub.disable_monitor()
            pub.close(linger=0)
        for link in self._links:
            with contextlib.suppress(zmq.ZMQError):
                link.sock.disable_monitor()
            link.sock.close(linger=0)
            link.mon.close(linger=0)
        self._links = []
        for sock in (*self._receiver, self._ctrl):
            if sock is not None:
                sock.close(linger=0)
        self._receiver = ()
        self._ctrl = None
        if self._auth is not None:
            self._auth.stop()
            self._auth = None
        if self._ctx is not None:
            self._ctx.term()
            self._ctx = None
        self._thread = None

    # -- receiver thread ------------------------------------------------------------------

    def _run(self, deliver: Deliver) -> None:
        pub_mon, ctrl_rx = self._receiver
        poller = zmq.Poller()
        #: what each polled socket is: a peer's frames, a peer's monitor, or ours
        frames: dict[zmq.Socket[Any], _Link] = {}
        monitors: dict[zmq.Socket[Any], _Link] = {}
        for sock in (pub_mon, ctrl_rx):
            poller.register(sock, zmq.POLLIN)
        # the PUB's own FD (a plain fd: polling it touches no socket another thread sends
        # on), so that subscriptions are read as they come, not only at the tick: under a
        # flood libzmq queues them without a limit until they are read
        pub_fd = self._pub_fd()
        if pub_fd is not None:
            poller.register(pub_fd, zmq.POLLIN)
        for link in self._links:
            poller.register(link.sock, zmq.POLLIN)
            poller.register(link.mon, zmq.POLLIN)
            frames[link.sock] = link
            monitors[link.mon] = link
        while True:
            try:
                ready = poller.poll(_TICK_MS)
                for sock, _ in ready:
                    carrier = frames.get(sock)
                    if carrier is not None:
                        self._drain(carrier, deliver)
                    elif sock in monitors:
                        self._on_sub_event(monitors[sock], recv_monitor_message(sock))
                    elif sock is pub_mon:
                        self._on_pub_event(recv_monitor_message(pub_mon))
                    elif sock is ctrl_rx:
                        return
                fresh = self._serve_subscriptions()
                if fresh is not None:
                    poller.unregister(pub_mon)
                    pub_mon.close(linger=0)
                    pub_mon = fresh
                    self._receiver = (pub_mon, ctrl_rx)
                    poller.register(pub_mon, zmq.POLLIN)
                    if pub_fd is not None:
                        poller.unregister(pub_fd)
                    pub_fd = self._pub_fd()
                    if pub_fd is not None:
                        poller.register(pub_fd, zmq.POLLIN)
                self._check_links()
            except zmq.ContextTerminated:
                return
            except Exception:  # nothing a peer sends may stop the receiver
                self.log.exception("zmq receiver: unexpected error (continuing)")
                time.sleep(0.1)

    def _drain(self, link: _Link, deliver: Deliver) -> bool:
        """Deliver up to :data:`_BATCH` frames waiting on ``link``; asks the socket whether
        more wait (cheaper than the exception an empty ``recv`` raises, and it takes the
        socket's FD signal). True if the batch ended with frames perhaps left. The counts
        are added once per batch."""
        sock = link.sock
        recv, getsockopt, name = sock.recv, sock.getsockopt, link.name
        received = dropped = 0
        more = True
        try:
            for _ in range(_BATCH):
                try:
                    data = recv(_NOBLOCK)
                except zmq.Again:
                    more = False
                    break
                if getsockopt(_RCVMORE):  # frames are one part: drop the whole message
                    while getsockopt(_RCVMORE):
                        recv()
                    dropped += 1
                else:
                    received += 1
                    try:
                        deliver(data, name)
                    except Exception:
                        self.log.exception("deliver failed on a %d-byte message", len(data))
                if not cast(int, getsockopt(_EVENTS)) & _POLLIN:
                    more = False
                    break
        finally:
            counts = self._counts
            if received:
                counts["received"] += received
                link.backoff = 0
            if dropped:
                counts["dropped"] += dropped
        return more

    # -- polled mode: the same work on the caller's thread -----------------------------------

    def _note_fds(self) -> None:
        pub, (pub_mon,) = self._pub, self._receiver
        pub_fds = (
            cast(int, pub.get(zmq.FD)) if pub is not None else -1,
            cast(int, pub_mon.get(zmq.FD)),
        )
        self._pub_fds = pub_fds
        self._fd_links = {link.fd: link for link in self._links}
        self._mon_links = {link.mon_fd: link for link in self._links}
        self._tick_fds = (*pub_fds, *self._mon_links)
        self._fds = (*pub_fds, *self._fd_links, *self._mon_links)

    def poll_fds(self) -> tuple[int, ...]:
        return self._fds

    def pump(self, ready: Collection[int] = ()) -> float:
        """Deliver the frames waiting, read the monitors, serve subscriptions and reset dead
        links, on the thread that called :meth:`start_polled`; never blocks.

        A zmq.FD only signals that the socket's state may have changed, and any operation on
        the socket may take that signal: a socket is read whenever its FD was ready, while
        a batch left frames on it or after its link was reset, the PUB after a send that found
        subscriptions waiting, and every socket every :data:`_TICK_MS`. Returns the seconds until it must be called
        again.
        """
        deliver = self._deliver
        if deliver is None:
            raise MessengerError("messenger: not started with start_polled, or closed")
        now = time.monotonic()
        pending = self._pending
        try:
            if now >= self._next_tick:
                self._next_tick = now + _TICK_MS / 1000
                self._check_links()
                ready = self._tick_fds  # every socket (the links' as pending)
                pending.update(self._links)
            elif not (ready or pending or self._sent_since_served):
                return self._next_tick - now
            if pending:
                for link in list(pending):
                    self._drain_link(link, deliver)
            pub_fd, pub_mon_fd = self._pub_fds
            for fd in ready:
                carrier = self._fd_links.get(fd)
                if carrier is not None:
                    self._drain_link(carrier, deliver)
                elif (watched := self._mon_links.get(fd)) is not None:
                    self._read_monitor(watched.mon, partial(self._on_sub_event, watched))
                elif fd == pub_mon_fd:
                    self._read_monitor(self._receiver[0], self._on_pub_event)
            if self._sent_since_served or pub_fd in ready:
                fresh = self._serve_subscriptions()
                if fresh is not None:
                    self._receiver[0].close(linger=0)
                    self._receiver = (fresh,)
                    self._note_fds()
                    self._read_monitor(fresh, self._on_pub_event)
        except zmq.ContextTerminated:
            return _TICK_MS / 1000
        except Exception:  # nothing a peer sends may stop the member
            self.log.exception("zmq receiver: unexpected error (continuing)")
        return 0.0 if pending else max(0.0, self._next_tick - now)

    def pump_due(self) -> float:
        """Seconds until :meth:`pump` has work without an fd turning readable (0.0: now):
        frames a batch left or a reset link may hold, subscriptions a send found, the tick."""
        if self._pending or self._sent_since_served:
            return 0.0
        return self._next_tick - time.monotonic()

    def _drain_link(self, link: _Link, deliver: Deliver) -> None:
        if self._drain(link, deliver):
            self._pending.add(link)  # the batch left frames: no FD signal will say so
        else:
            self._pending.discard(link)

    @staticmethod
    def _read_monitor(mon: zmq.Socket[Any], handle: Callable[[Mapping[str, Any]], None]) -> None:
        while cast(int, mon.get(_EVENTS)) & _POLLIN:
            handle(recv_monitor_message(mon, zmq.NOBLOCK))

    def _on_sub_event(self, link: _Link, event: Mapping[str, Any]) -> None:
        endpoint = event["endpoint"].decode(errors="replace")
        peer = link.name
        kind = event["event"]
        if kind == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            link.dead_since = None
            if peer in self._ever_up:
                self._counts["reconnects"] += 1
                self.log.info("reconnected to peer %s at %s", peer, endpoint)
            else:
                self.log.info("connected to peer %s at %s", peer, endpoint)
            self._ever_up.add(peer)
            self._up.add(peer)
            self._alone_since = None
            self._warned.discard(peer)
        elif kind == zmq.EVENT_CONNECT_RETRIED:
            link.dead_since = None  # libzmq reconnects this one by itself
        elif kind == zmq.EVENT_DISCONNECTED:
            link.dead_since = time.monotonic()
            if peer in self._up:
                self._up.discard(peer)
                if not self._up:
                    self._alone_since = time.monotonic()
                self._counts["disconnects"] += 1
                self.log.warning("lost connection to peer %s at %s", peer, endpoint)
        elif kind in _HANDSHAKE_FAILED:
            link.dead_since = time.monotonic()
            self._counts["handshake_failures"] += 1
            level = self.log.debug if peer in self._warned else self.log.warning
            self._warned.add(peer)
            level("handshake with peer %s at %s failed (wrong CURVE key?)", peer, endpoint)

    def _check_links(self) -> None:
        """Reconnect peers that libzmq gave up on (a frame over the size limit, a protocol
        error, a failed handshake): it never retries those, even once the real peer is back."""
        now = time.monotonic()
        o = self.opts
        for link in self._links:
            if link.dead_since is None:
                continue
            delay = min(o.reconnect_ivl_ms * 2**min(link.backoff, 16), max(o.reconnect_ivl_max_ms, o.reconnect_ivl_ms))
            if now - link.dead_since < max(delay, _TICK_MS) / 1000:
                continue
            link.dead_since = None
            self._pending.add(link)  # connecting takes the socket's FD signal
            link.backoff += 1
            link.resets += 1
            self._counts["link_resets"] += 1
            with contextlib.suppress(zmq.ZMQError):
                link.sock.disconnect(link.address)
            try:
                link.sock.connect(link.address)
            except zmq.ZMQError as exc:
                link.dead_since = now  # tried again at the next delay
                self.log.warning("reconnecting peer %s at %s failed: %s", link.name, link.address, exc.strerror)
                continue
            self._warn_rarely(
                f"link {link.name}",
                "link to peer %s at %s was dropped without a retry (a frame over "
                "max_message_bytes or a protocol error); reconnected (%d time(s) so far)",
                link.name, link.address, link.resets,
            )

    def _on_pub_event(self, event: Mapping[str, Any]) -> None:
        kind = event["event"]
        if kind in _HANDSHAKE_FAILED:
            # anyone who reaches the port can fail a handshake: counted each time, told rarely
            self._counts["auth_failures"] += 1
            why = "unknown CURVE key" if kind == zmq.EVENT_HANDSHAKE_FAILED_AUTH else "a failed handshake"
            self._warn_rarely(
                "refused",
                "refused a subscriber on %s (%s); %d refused so far (stat=\"auth_failures\")",
                self.opts.bind, why, self._counts["auth_failures"],
            )

    def _warn_rarely(self, key: str, message: str, *args: Any) -> None:
        """Log the warning ``key`` unless it was given less than :data:`_WARN_EVERY` ago."""
        now = time.monotonic()
        if now - self._warned_at.get(key, float("-inf")) >= _WARN_EVERY:
            self._warned_at[key] = now
            self.log.warning(message, *args)

    # -- reporting ------------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        return {**self._counts, "peers_connected": len(self._up)}

    def outage(self) -> float | None:
        """Seconds without a connection to any peer (a mesh has no broker: its peers are
        its transport), 0.0 while one is up."""
        since = self._alone_since
        return 0.0 if since is None else time.monotonic() - since

    def reachable_peers(self) -> set[str] | None:
        """The peers whose PUB this member is subscribed to now."""
        return set(self._up)

    def connected_peers(self) -> set[str]:
        """Names of the peers whose PUB this member is currently subscribed to."""
        return set(self._up)

    def check(self) -> str:
        curve = "CURVE" if self._curve else "no encryption"
        return f"zmq bind {self.opts.bind}, {len(self._peers)} peer(s), {curve}"

    def check_warning(self) -> str | None:
        if self._curve is not None:
            return None
        return (
            "CURVE is off: anyone who can reach this member's port reads every vote and "
            "proposal; set curve_secret_key_file and curve_public_keys in [messenger]"
        )
