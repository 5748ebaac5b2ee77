"""Prometheus metrics and the health check of a running member, on one HTTP listener.

``GET /metrics`` answers in the Prometheus text format; ``GET /status`` with what
``oceanfed status`` shows, as JSON; ``GET /health`` answers 200 while
the member's node and messenger are reachable and 503 (with the reason) once either has
been unreachable (or, for the node, still starting) for longer than
``[metrics] unhealthy_after`` seconds. A messenger that
cannot tell whether it is connected (``Messenger.outage()`` is None) is judged by the
peers instead: silence from all of them for that long is an outage.

``/health`` also answers 503 once fewer than M members (this one included) have been
reachable for longer than ``unhealthy_after``: a member alone cannot make blocks. A peer is
reachable while the messenger reports its link up (``Messenger.reachable_peers()``), and
for ``unhealthy_after`` seconds after its last authenticated message (plus the block time
when the messenger cannot tell per peer: members say nothing while they wait for it).

Nothing is counted on the hot path: a custom collector reads, at scrape time, the driver's
counters and the machine's :class:`~oceanfed.consensus.machine.Snapshot`, which the loop
replaces whole after each event (so no scrape reads a dict the loop is changing). Only what each accepted block says is observed as it happens, from the
driver's ``on_block`` callback: round latency (a histogram) and who signed it (per member).
"""

from __future__ import annotations

import errno
import json
import logging
import re
import socketserver
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    make_wsgi_app,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from oceanfed import __version__
from oceanfed.consensus.counts import Kind, Tally
from oceanfed.errors import ConfigError
from oceanfed.steadyclock import to_wall

if TYPE_CHECKING:
    from oceanfed.driver import Driver

log = logging.getLogger("oceanfed.metrics")

#: round latency buckets (seconds): loopback devnets take milliseconds, real ones seconds
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

#: a messenger's stats() key that can be part of a metric name
_STAT_KEY = re.compile(r"[a-z][a-z0-9_]*")

#: what the machine counts with a reason, exported as one labelled counter each
_LABELLED = {
    Kind.PROPOSAL_REJECTED: ("oceanfed_proposals_rejected", "reason", "Proposals refused, by reason"),
    Kind.SIGNATURES_REJECTED: (
        "oceanfed_signatures_rejected", "reason", "Peer block signatures refused, by reason",
    ),
    Kind.DROPPED: ("oceanfed_messages_dropped", "reason", "Peer messages dropped, by reason"),
    Kind.NODE_FAILED: ("oceanfed_node_failures", "call", "Node calls that failed, by purpose"),
    Kind.SUBMIT_REJECTED: (
        "oceanfed_submit_rejected", "reason", "Completed blocks the node refused, by reason",
    ),
    Kind.TIMEOUT: ("oceanfed_timeouts", "step", "Round step timeouts, by step"),
    Kind.EQUIVOCATION: ("oceanfed_equivocations", "kind", "Conflicting messages seen, by kind"),
}


class HealthPolicy:
    """Decides whether a member is healthy from what its driver last saw."""

    def __init__(self, driver: Driver, unhealthy_after: float):
        self.driver = driver
        self.unhealthy_after = unhealthy_after
        self.started = driver.clock()
        #: when each peer's link was last seen up (by a check), by member index
        self._linked_at: dict[int, float] = {}
        self._lock = threading.Lock()

    def quorum(self) -> tuple[int, float]:
        """``(members reachable now incl. this one, seconds the quorum has been missing)``."""
        d = self.driver
        now = d.clock()
        cfg = d.machine.cfg
        linked = _reachable_peers(d)
        window = self.unhealthy_after + (cfg.block_time if linked is None else 0.0)
        seen = d.view.peer_seen
        until = []
        with self._lock:
            for index, name in enumerate(cfg.names):
                if index == cfg.me:
                    continue
                if linked is not None and name in linked:
                    self._linked_at[index] = now
                heard = max(seen.get(index, self.started), self.started)
                until.append(max(heard + window, self._linked_at.get(index, float("-inf"))))
        until.sort(reverse=True)
        reachable = 1 + sum(1 for t in until if t >= now)
        need = cfg.threshold - 1
        if need <= 0:
            return reachable, 0.0
        if len(until) < need:
            return reachable, float("inf")
        return reachable, max(0.0, now - until[need - 1])

    def check(self) -> tuple[bool, dict[str, Any]]:
        """``(healthy, details)``; details name every reason for being unhealthy."""
        d = self.driver
        now = d.clock()
        machine, view = d.machine, d.view
        node_age = now - d.last_node_ok
        seen = view.peer_seen
        peers = machine.cfg.n - 1
        last_peer = max(seen.values(), default=self.started)
        peer_age = now - max(last_peer, self.started) if peers else 0.0
        outage = _messenger_outage(d)
        reasons = []
        if node_age > self.unhealthy_after:
            node_outage = getattr(d, "node_outage", None)
            if node_outage is not None and node_outage.starting:
                reasons.append(f"node is starting (warm-up) for {node_age:.1f}s")
            else:
                reasons.append(f"node unreachable for {node_age:.1f}s")
        if outage is not None:
            # the messenger knows its link: silent peers alone mean waiting, not a fault
            if outage > self.unhealthy_after:
                reasons.append(f"messenger unreachable for {outage:.1f}s")
        elif peers and peer_age > self.unhealthy_after:
            reasons.append(f"no message from any peer for {peer_age:.1f}s")
        reachable, missing = self.quorum()
        if missing > self.unhealthy_after:
            reasons.append(
                f"only {reachable} of the {machine.cfg.threshold} members needed are reachable "
                f"(for {missing:.1f}s)"
            )
        busy = d.signer_busy()
        if busy is not None and busy["seconds"] > self.unhealthy_after:
            reasons.append(f"signer has not returned for {busy['seconds']:.1f}s (height {busy['height']})")
        if getattr(d, "_stop", None) is not None and d._stop.is_set():
            reasons.append("stopping")
        tip = view.tip
        details = {
            "status": "unhealthy" if reasons else "ok",
            "reasons": reasons,
            "tip": tip[0] if tip else None,
            "signed_height": view.signed_height,
            "node_age": round(node_age, 3),
            "peer_age": round(peer_age, 3),
            "messenger_outage": None if outage is None else round(outage, 3),
            "members_reachable": reachable,
            "unhealthy_after": self.unhealthy_after,
        }
        return not reasons, details


def _reachable_peers(driver: Driver) -> set[str] | None:
    """The names of peers the messenger has a link to, or None if it cannot tell."""
    try:
        peers = driver.messenger.reachable_peers()
    except Exception:  # noqa: BLE001 - a plugin bug must not break /health
        log.debug("messenger.reachable_peers() failed", exc_info=True)
        return None
    return None if peers is None else set(peers)


def _messenger_outage(driver: Driver) -> float | None:
    """The messenger's own view of its link; a plugin's failure here counts as "cannot tell"."""
    try:
        outage = driver.messenger.outage()
    except Exception:  # noqa: BLE001 - a plugin bug must not break /health
        log.debug("messenger.outage() failed", exc_info=True)
        return None
    return None if outage is None else max(0.0, float(outage))


class DriverCollector(Collector):
    """Reads a driver's counters and state at scrape time (the machine's from its snapshot)."""

    def __init__(self, driver: Driver, health: HealthPolicy | None = None):
        self.driver = driver
        self.health = health

    def collect(self) -> Iterator[Metric]:
        d = self.driver
        m = d.machine
        view = d.view
        counters = view.counters
        tip = view.tip

        g = GaugeMetricFamily("oceanfed_height", "Height of the node's chain tip as last seen")
        g.add_metric([], tip[0] if tip else -1)
        yield g
        g = GaugeMetricFamily("oceanfed_signed_height", "Height of this member's sign-state")
        g.add_metric([], view.signed_height)
        yield g
        g = GaugeMetricFamily("oceanfed_round", "Round of the height being decided")
        g.add_metric([], view.round if view.round is not None else 0)
        yield g

        rounds = CounterMetricFamily(
            "oceanfed_rounds", "Rounds that ended, by outcome", labels=["outcome"]
        )
        rounds.add_metric(["block"], counters.get(Tally(Kind.BLOCKS_SUBMITTED), 0))
        rounds.add_metric(
            ["timeout"],
            counters.get(Tally(Kind.TIMEOUT, "precommit"), 0) + counters.get(Tally(Kind.TIMEOUT, "round"), 0),
        )
        rounds.add_metric(
            ["submit_rejected"],
            sum(v for k, v in counters.items() if k.kind is Kind.SUBMIT_REJECTED),
        )
        yield rounds

        for kind, name, doc in (
            (Kind.SIGNATURES_MADE, "oceanfed_signatures_made", "Block signatures made by this member's signer"),
            (Kind.SIGNATURES_RECEIVED, "oceanfed_signatures_received", "Valid block signatures received from peers"),
            (Kind.SIGN_FAILED, "oceanfed_signer_failures", "Signing requests the signer failed"),
            (Kind.SIGN_INVALID, "oceanfed_signer_invalid", "Signatures from our signer that did not verify"),
        ):
            c = CounterMetricFamily(name, doc)
            c.add_metric([], counters.get(Tally(kind), 0))
            yield c

        families = {
            kind: CounterMetricFamily(name, doc, labels=[label])
            for kind, (name, label, doc) in _LABELLED.items()
        }
        for key, value in sorted(counters.items(), key=lambda kv: str(kv[0])):
            if key.reason and key.kind in families:
                families[key.kind].add_metric([key.reason], value)
        yield from families.values()

        c = CounterMetricFamily("oceanfed_rpc_errors", "Failed JSON-RPC calls to the node")
        c.add_metric([], d.rpc_errors)
        yield c
        c = CounterMetricFamily(
            "oceanfed_node_calls_deferred",
            "Node calls not sent while backing off during a node outage",
        )
        c.add_metric([], d.node_outage.deferred)
        yield c
        c = CounterMetricFamily("oceanfed_messages_received", "Frames the messenger delivered")
        c.add_metric([], d.messages_received)
        yield c
        cpu = CounterMetricFamily(
            "oceanfed_cpu_seconds", "CPU seconds this member spent, by component", labels=["component"]
        )
        for component, seconds in d.cpu.seconds().items():
            cpu.add_metric([component], seconds)
        yield cpu

        try:
            stats = dict(d.messenger.stats())
        except Exception as exc:  # a plugin bug must not break the scrape
            log.debug("messenger stats failed: %s", exc)
            stats = {}
        yield from _messenger_metrics(stats, getattr(d.messenger, "GAUGES", frozenset()))

        busy = d.signer_busy()
        g = GaugeMetricFamily(
            "oceanfed_signer_busy_seconds",
            "How long the signer call in progress has run (0 when none is): a hung token shows here",
        )
        g.add_metric([], 0.0 if busy is None else busy["seconds"])
        yield g
        c = CounterMetricFamily(
            "oceanfed_signs_superseded",
            "Signature requests dropped unstarted because a newer height's took their place",
        )
        c.add_metric([], d.signs_superseded)
        yield c
        c = CounterMetricFamily(
            "oceanfed_state_written_back",
            "Times the state directory was found removed or replaced while running and written back",
        )
        c.add_metric([], d.state_written_back)
        yield c

        drops = CounterMetricFamily(
            "oceanfed_frames_dropped",
            "Received frames dropped, by the peer whose link carried them and the reason",
            labels=["peer", "reason"],
        )
        for (peer, reason), value in sorted(d.drops.counts().items()):
            drops.add_metric([peer, reason], value)
        yield drops
        g = GaugeMetricFamily(
            "oceanfed_inbox_bytes", "Bytes of received frames waiting to be handled, by peer",
            labels=["peer"],
        )
        for peer, value in sorted(d.inbox_usage().items()):
            g.add_metric([peer], value)
        yield g
        if self.health is not None:
            reachable, _ = self.health.quorum()
            g = GaugeMetricFamily(
                "oceanfed_quorum_reachable",
                "1 while at least M members (this one included) are reachable, else 0",
            )
            g.add_metric([], 1 if reachable >= m.cfg.threshold else 0)
            yield g
            g = GaugeMetricFamily(
                "oceanfed_members_reachable", "Members reachable now, this one included"
            )
            g.add_metric([], reachable)
            yield g

        g = GaugeMetricFamily(
            "oceanfed_node_last_ok_timestamp_seconds", "When the node last answered (Unix time)"
        )
        g.add_metric([], to_wall(d.last_node_ok, d.clock))
        yield g
        g = GaugeMetricFamily(
            "oceanfed_peer_last_seen_timestamp_seconds",
            "When an authenticated message last arrived from each peer (Unix time)",
            labels=["peer"],
        )
        for index, at in sorted(dict(m.peer_seen).items()):
            g.add_metric([m.cfg.names[index]], to_wall(at, d.clock))
        yield g


def _messenger_metrics(stats: dict[str, Any], gauges: frozenset[str]) -> Iterator[Metric]:
    """A messenger's stats(): its gauges as ``oceanfed_messenger_<key>``, every other key as
    the counter ``oceanfed_messenger_<key>_total`` (``reconnects`` always present)."""
    stats.setdefault("reconnects", 0)
    for key, value in sorted(stats.items()):
        if not isinstance(value, int | float):
            continue
        if not _STAT_KEY.fullmatch(key) or key.endswith("_total"):
            log.debug("messenger stat %r is not exported (not a metric name)", key)
            continue
        if key in gauges:
            g = GaugeMetricFamily(f"oceanfed_messenger_{key}", f"Messenger: {key.replace('_', ' ')}")
            g.add_metric([], float(value))
            yield g
        else:
            c = CounterMetricFamily(f"oceanfed_messenger_{key}", f"Messenger: {key.replace('_', ' ')}")
            c.add_metric([], value)
            yield c


#: seconds a client may leave its connection silent (reading its request or our answer)
IDLE_TIMEOUT = 10.0
#: connections served at once; a connection beyond them is closed at once
MAX_CONNECTIONS = 16


class _Handler(WSGIRequestHandler):
    timeout = IDLE_TIMEOUT

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        log.debug("http %s", format % args)


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    """A thread per connection, at most :data:`MAX_CONNECTIONS` of them: an idle or slow
    client holds its thread only until the handler's timeout, and a flood of connections
    gets no more threads than that."""

    daemon_threads = True
    allow_reuse_address = True

    def server_activate(self) -> None:
        super().server_activate()
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        if self._slots.acquire(blocking=False):
            return True
        log.debug("http: %d connections already, closing one from %s", MAX_CONNECTIONS, client_address)
        return False

    def process_request(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()  # no thread took it
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One debug line, not a traceback: a client that went silent or away."""
        exc = sys.exc_info()[1]
        log.debug("http: connection from %s ended: %s", client_address, exc)


def parse_listen(listen: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:9464`` for IPv6) as a tuple."""
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


class MetricsServer:
    """Serves ``/metrics`` and ``/health`` for one driver from a background thread."""

    def __init__(self, listen: str, unhealthy_after: float = 30.0):
        self.listen = listen
        self.unhealthy_after = unhealthy_after
        self.registry = CollectorRegistry(auto_describe=False)
        self.latency = Histogram(
            "oceanfed_round_latency_seconds",
            "Seconds from a height's proposal to its block being accepted",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.peer_signatures = Counter(
            "oceanfed_peer_signatures",
            "Accepted blocks carrying each member's signature, as this member saw them",
            ["peer"], registry=self.registry,
        )
        self.peer_last_signed = Gauge(
            "oceanfed_peer_last_signed_height",
            "Height of the last accepted block carrying each member's signature",
            ["peer"], registry=self.registry,
        )
        self.missing_signers = Gauge(
            "oceanfed_missing_signers",
            "Members whose signature the last accepted block did not carry",
            registry=self.registry,
        )
        self.build_info = Gauge(
            "oceanfed_build_info", "Always 1: this member's oceanfed version, chain and name",
            ["version", "chain", "member"], registry=self.registry,
        )
        self._members: list[str] = []
        ProcessCollector(registry=self.registry)
        #: what GET /status answers (set by the runner), None until the member is up
        self.status_source: Callable[[], dict[str, Any]] | None = None
        self.health: HealthPolicy | None = None
        self._server: _ThreadingServer | None = None
        self._thread: threading.Thread | None = None
        self._started = time.monotonic()

    # -- wiring -------------------------------------------------------------------------
    def observe_block(self, block: dict[str, Any]) -> None:
        """``on_block`` callback of the driver: record one accepted block's latency."""
        self.latency.observe(max(0.0, float(block.get("latency", 0.0))))
        signers = [s for s in block.get("signers", []) if isinstance(s, str)]
        for name in signers:
            if name in self._members:  # only the federation's names: bounded label set
                self.peer_signatures.labels(name).inc()
                self.peer_last_signed.labels(name).set(int(block.get("height", -1)))
        if self._members:
            self.missing_signers.set(len(set(self._members) - set(signers)))

    def attach(self, driver: Driver, chain: str = "") -> None:
        """Export ``driver``'s counters and judge its health."""
        self.health = HealthPolicy(driver, self.unhealthy_after)
        self.registry.register(DriverCollector(driver, self.health))
        cfg = driver.machine.cfg
        self._members = list(cfg.names)
        for name in self._members:  # every member's series exists from the start
            self.peer_signatures.labels(name)
            self.peer_last_signed.labels(name).set(-1)
        self.build_info.labels(__version__, chain, cfg.names[cfg.me]).set(1)

    def _status(self) -> dict[str, Any]:
        """The status source's answer (built from the snapshot the loop publishes)."""
        source = self.status_source
        if source is None:
            raise LookupError("starting")
        return source()

    # -- serving ------------------------------------------------------------------------
    def _app(self) -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
        metrics_app = make_wsgi_app(self.registry)

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            path = environ.get("PATH_INFO", "/")
            if path == "/health":
                if self.health is None:  # the member is starting (its node may be warming up)
                    age = time.monotonic() - self._started
                    ok = age <= self.unhealthy_after
                    details = {"status": "starting" if ok else "unhealthy",
                               "reasons": [] if ok else [f"still starting after {age:.1f}s"],
                               "unhealthy_after": self.unhealthy_after}
                else:
                    ok, details = self.health.check()
                body = (json.dumps(details) + "\n").encode()
                status = "200 OK" if ok else "503 Service Unavailable"
                start_response(status, [("Content-Type", "application/json"),
                                        ("Content-Length", str(len(body)))])
                return [body]
            if path == "/status":
                try:
                    data, code = self._status(), "200 OK"
                except LookupError:
                    data, code = {"status": "starting"}, "503 Service Unavailable"
                except Exception as exc:  # noqa: BLE001 - a scrape must not kill the server
                    log.warning("GET /status failed: %s", exc, exc_info=exc)
                    data, code = {"error": "status unavailable"}, "500 Internal Server Error"
                body = (json.dumps(data) + "\n").encode()
                start_response(code, [("Content-Type", "application/json"),
                                      ("Content-Length", str(len(body)))])
                return [body]
            if path in ("/metrics", "/"):
                return metrics_app(environ, start_response)
            body = b"not found: try /metrics, /status or /health\n"
            start_response("404 Not Found", [("Content-Type", "text/plain"),
                                             ("Content-Length", str(len(body)))])
            return [body]

        return app

    def start(self) -> tuple[str, int]:
        """Bind and serve in a daemon thread; return the bound address.

        Raises ConfigError naming ``metrics.listen`` when the address cannot be bound.
        """
        host, port = parse_listen(self.listen)
        try:
            server = make_server(host, port, self._app(), server_class=_ThreadingServer,
                                 handler_class=_Handler)
        except OSError as exc:
            why = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise ConfigError(f"metrics.listen: cannot listen on {self.listen} ({why})") from None
        self._server = server
        self._started = time.monotonic()
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="metrics", daemon=True
        )
        self._thread.start()
        bound = server.server_address
        log.info("metrics and health on http://%s:%d/metrics and /health", bound[0], bound[1])
        return str(bound[0]), int(bound[1])

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

