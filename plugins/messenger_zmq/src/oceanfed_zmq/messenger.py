"""A full-mesh ZeroMQ messenger: each member binds one PUB and subscribes to every peer.

``broadcast`` sends on the PUB socket under a lock (it may be called from any thread and
never blocks: a slow peer's queue drops at the high-water mark). A receiver thread blocks in
``zmq.Poller`` on the SUB socket, the socket monitors and a control pipe, and hands every
frame to ``deliver``. ZeroMQ reconnects by itself when a peer restarts; the monitors count
reconnects for :meth:`ZmqMessenger.stats`.

With CURVE configured, the PUB socket is a CURVE server whose ZAP handler admits only the
other members' public keys, and each SUB connection checks its peer's server key.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

from zmq.auth.thread import ThreadAuthenticator
from zmq.utils.monitor import recv_monitor_message

import zmq
from oceanfed.errors import ConfigError, MessengerError
from oceanfed.interfaces import Deliver, Messenger, PluginContext, PluginOptions
from oceanfed.keyfile import allows_group_readable, read_secret_file

from .options import ZmqOptions, curve_public_of, decode_curve_key

_MONITOR_EVENTS = (
    zmq.EVENT_HANDSHAKE_SUCCEEDED
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
_instances = itertools.count()


class _AllowedKeys:
    """ZAP credentials provider: admits only the listed Z85 public keys."""

    def __init__(self, keys: dict[bytes, str]):
        self._keys = keys

    def callback(self, domain: str, key: bytes) -> bool:
        return key in self._keys


class ZmqMessenger(Messenger):
    """PUB/SUB mesh over ZeroMQ for any number of members."""

    Options = ZmqOptions

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
        }

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
        path = os.path.join(context.base_dir, os.path.expanduser(options.curve_secret_key_file))
        text = read_secret_file(
            path, "CURVE secret key",
            allow_group_readable=allows_group_readable(options.curve_secret_key_file),
        )
        try:
            decode_curve_key(text)
        except ValueError as exc:
            raise ConfigError(f"{path}: malformed CURVE secret key file: {exc}") from None
        secret = text.encode("ascii")
        public = curve_public_of(secret)
        if public != keys[me].encode("ascii"):
            raise ConfigError(
                f"messenger.curve_public_keys.{me}: does not match the key in {path} "
                f"(its public key is {public.decode()})"
            )
        return secret, public, {n: k.encode("ascii") for n, k in keys.items()}

    # -- life cycle -----------------------------------------------------------------------

    def start(self, deliver: Deliver) -> None:
        if self._ctx is not None:
            raise MessengerError("messenger: already started")
        ctx: zmq.Context[Any] = zmq.Context(io_threads=1)
        self._ctx = ctx
        self._alone_since = time.monotonic() if self._peers else None
        try:
            self._open(ctx, deliver)
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

    def _open(self, ctx: zmq.Context[Any], deliver: Deliver) -> None:
        o = self.opts
        me = self.context.me.name
        if self._curve is not None:
            allowed = {k: n for n, k in self._curve[2].items() if n != me}
            self._auth = ThreadAuthenticator(ctx, log=self.log.getChild("zap"))
            self._auth.start()
            self._auth.configure_curve_callback(
                _ZAP_DOMAIN.decode(), credentials_provider=_AllowedKeys(allowed)
            )

        pub = ctx.socket(zmq.PUB)
        self._pub = pub
        self._configure(pub)
        pub.setsockopt(zmq.SNDHWM, o.sndhwm)
        if self._curve is not None:
            pub.setsockopt(zmq.CURVE_SERVER, 1)
            pub.setsockopt(zmq.ZAP_DOMAIN, _ZAP_DOMAIN)
        try:
            pub.bind(o.bind)
        except zmq.ZMQError as exc:
            if exc.errno == zmq.EADDRINUSE:
                raise MessengerError(f"messenger.bind: {o.bind} is already in use") from None
            raise MessengerError(f"messenger.bind: cannot bind {o.bind} ({exc.strerror})") from None
        pub_mon = pub.get_monitor_socket(_MONITOR_EVENTS)

        sub = ctx.socket(zmq.SUB)
        self._configure(sub)
        sub.setsockopt(zmq.RCVHWM, o.rcvhwm)
        sub.setsockopt(zmq.MAXMSGSIZE, o.max_message_bytes)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub_mon = sub.get_monitor_socket(_MONITOR_EVENTS)
        ctrl_addr = f"inproc://oceanfed-zmq-ctrl-{next(_instances)}"
        ctrl_rx = ctx.socket(zmq.PAIR)
        ctrl_rx.bind(ctrl_addr)
        self._ctrl = ctx.socket(zmq.PAIR)
        self._ctrl.connect(ctrl_addr)
        self._receiver = (sub, sub_mon, pub_mon, ctrl_rx)
        for name, address in self._peers.items():
            if self._curve is not None:
                sub.setsockopt(zmq.CURVE_SERVERKEY, self._curve[2][name])
            try:
                sub.connect(address)
            except zmq.ZMQError as exc:
                raise MessengerError(
                    f"messenger.peers.{name}: cannot connect to {address} ({exc.strerror})"
                ) from None
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

    def broadcast(self, data: bytes) -> None:
        with self._lock:
            pub = self._pub
            if pub is None:
                raise MessengerError("messenger: not started, or closed")
            try:
                pub.send(data, zmq.NOBLOCK)
                self._counts["sent"] += 1
            except zmq.Again:
                self._counts["dropped"] += 1

    def close(self) -> None:
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
        sub, sub_mon, pub_mon, ctrl_rx = self._receiver
        poller = zmq.Poller()
        for sock in (sub, sub_mon, pub_mon, ctrl_rx):
            poller.register(sock, zmq.POLLIN)
        try:
            while True:
                ready = dict(poller.poll())
                if ctrl_rx in ready:
                    return
                if sub in ready:
                    self._drain(sub, deliver)
                if sub_mon in ready:
                    self._on_sub_event(recv_monitor_message(sub_mon))
                if pub_mon in ready:
                    self._on_pub_event(recv_monitor_message(pub_mon))
        except zmq.ContextTerminated:
            return
        except Exception:
            self.log.exception("zmq receiver stopped on an unexpected error")

    def _drain(self, sub: zmq.Socket[Any], deliver: Deliver) -> None:
        while True:
            try:
                parts = sub.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            if len(parts) != 1:
                self._counts["dropped"] += 1
                continue
            self._counts["received"] += 1
            try:
                deliver(parts[0])
            except Exception:
                self.log.exception("deliver failed on a %d-byte message", len(parts[0]))

    def _on_sub_event(self, event: Mapping[str, Any]) -> None:
        endpoint = event["endpoint"].decode(errors="replace")
        peer = self._endpoint_names.get(endpoint, endpoint)
        kind = event["event"]
        if kind == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            if peer in self._ever_up:
                self._counts["reconnects"] += 1
                self.log.info("reconnected to peer %s at %s", peer, endpoint)
            else:
                self.log.info("connected to peer %s at %s", peer, endpoint)
            self._ever_up.add(peer)
            self._up.add(peer)
            self._alone_since = None
            self._warned.discard(peer)
        elif kind == zmq.EVENT_DISCONNECTED:
            if peer in self._up:
                self._up.discard(peer)
                if not self._up:
                    self._alone_since = time.monotonic()
                self._counts["disconnects"] += 1
                self.log.warning("lost connection to peer %s at %s", peer, endpoint)
        elif kind in _HANDSHAKE_FAILED:
            self._counts["handshake_failures"] += 1
            level = self.log.debug if peer in self._warned else self.log.warning
            self._warned.add(peer)
            level("handshake with peer %s at %s failed (wrong CURVE key?)", peer, endpoint)

    def _on_pub_event(self, event: Mapping[str, Any]) -> None:
        kind = event["event"]
        if kind in _HANDSHAKE_FAILED:
            self._counts["auth_failures"] += 1
            self.log.warning("refused a subscriber on %s (unknown CURVE key)", self.opts.bind)

    # -- reporting ------------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        return {**self._counts, "peers_connected": len(self._up)}

    def outage(self) -> float | None:
        """Seconds without a connection to any peer (a mesh has no broker: its peers are
        its transport), 0.0 while one is up."""
        since = self._alone_since
        return 0.0 if since is None else time.monotonic() - since

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
