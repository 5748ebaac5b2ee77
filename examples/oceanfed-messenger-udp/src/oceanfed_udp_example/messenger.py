"""``[messenger] driver = "udp-example"``: one datagram per frame to every peer."""

from __future__ import annotations

import contextlib
import socket
import threading

from pydantic import Field, field_validator

from oceanfed.errors import MessengerError
from oceanfed.interfaces import Deliver, Messenger, PluginContext, PluginOptions


def _address(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    return host, int(port)


class UdpOptions(PluginOptions):
    """Options of the ``udp-example`` messenger."""

    #: this member's UDP address, HOST:PORT
    bind: str
    #: every other member's UDP address, by member name
    peers: dict[str, str] = Field(default_factory=dict)
    #: frames larger than this are dropped (and counted), never fragmented
    max_datagram: int = Field(default=65000, ge=512, le=65507)

    @field_validator("bind")
    @classmethod
    def _bind(cls, v: str) -> str:
        _address(v)
        return v

    @field_validator("peers")
    @classmethod
    def _peers(cls, v: dict[str, str]) -> dict[str, str]:
        for name, addr in v.items():
            try:
                _address(addr)
            except ValueError as exc:
                raise ValueError(f"peer {name}: {exc}") from None
        return v


class UdpMessenger(Messenger):
    """Broadcasts each frame as one UDP datagram to every peer."""

    Options = UdpOptions

    def __init__(self, options: PluginOptions, context: PluginContext):
        super().__init__(options, context)
        assert isinstance(options, UdpOptions)
        self.opts = options
        names = {m.name for m in context.members} - {context.me.name}
        unknown = sorted(set(options.peers) - names)
        if unknown:
            raise MessengerError(f"messenger.peers: {unknown[0]!r} is not another federation member")
        self._peers = {name: _address(addr) for name, addr in options.peers.items()}
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._counts = {"sent": 0, "received": 0, "dropped": 0, "reconnects": 0}
        self._lock = threading.Lock()

    def start(self, deliver: Deliver) -> None:
        host, port = _address(self.opts.bind)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            raise MessengerError(f"messenger.bind: cannot bind {self.opts.bind} ({exc.strerror})") from None
        self._sock = sock
        self._thread = threading.Thread(target=self._receive, args=(sock, deliver),
                                        name="udp-example", daemon=True)
        self._thread.start()
        self.context.logger.info("udp-example messenger on %s, %d peer(s)", self.opts.bind, len(self._peers))

    def _receive(self, sock: socket.socket, deliver: Deliver) -> None:
        while True:
            try:
                data, _ = sock.recvfrom(65535)
            except OSError:  # closed
                return
            if not data:  # the wake-up datagram of close()
                if self._sock is None:
                    return
                continue
            self._count("received")
            deliver(data)

    def _count(self, key: str) -> None:
        with self._lock:
            self._counts[key] += 1

    def broadcast(self, data: bytes) -> None:
        sock = self._sock
        if sock is None:
            raise MessengerError("udp-example: broadcast before start")
        if len(data) > self.opts.max_datagram:
            self._count("dropped")
            return
        for addr in self._peers.values():
            try:
                sock.sendto(data, addr)
                self._count("sent")
            except OSError:  # a peer's host unreachable: UDP is best effort
                self._count("dropped")

    def check(self) -> str:
        return f"udp {self.opts.bind}, {len(self._peers)} peer(s), max datagram {self.opts.max_datagram}"

    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is None:
            return
        with contextlib.suppress(OSError):  # wake the receiver so that it sees the close
            sock.sendto(b"", sock.getsockname())
        if self._thread is not None:
            self._thread.join(timeout=2)
        sock.close()
