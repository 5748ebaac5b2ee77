"""The Kafka messenger: oceanfed envelopes over a Kafka cluster the operator already runs.

One long-lived producer and one consumer per process. The consumer uses manual partition
assignment with no consumer group and no committed offsets, so no member can take another's
messages; it starts at the latest offset. A sender thread keeps ``broadcast()`` from ever
blocking on the network; a consumer thread polls with a short timeout, delivers frames and
checks the brokers every ``health_interval_ms``, logging one line when contact is lost and
one when it is back.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from typing import Any, cast

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka import errors as kerr
from oceanfed import wire
from oceanfed.errors import MessengerError
from oceanfed.interfaces import Deliver, Messenger, PluginContext, PluginOptions
from oceanfed_kafka import inflate
from oceanfed_kafka.client import ClientSettings, build_settings, explain, preflight
from oceanfed_kafka.options import KafkaOptions
from oceanfed_kafka.stale import StaleFilter, Verdict
from oceanfed_kafka.topics import Topics, ensure_topics, missing_topics
from oceanfed_kafka.unreadable import batch_end

#: what kafka-python raises, without moving on, for a record batch it cannot read
_UNREADABLE = (kerr.CorruptRecordError, kerr.UnsupportedCodecError)
#: frames waiting in the sender queue: (topic, key, frame, monotonic enqueue time)
_Item = tuple[str, bytes, bytes, float]
_POLL_MS = 50
#: the producer's batch size (kafka-python's default, stated: it bounds what a batch inflates to)
_BATCH_BYTES = 16_384
_WARN_EVERY = 30.0


class KafkaMessenger(Messenger):
    """Broadcasts envelopes to ``<prefix>.<chain>.{proposals,votes}`` and reads them back.

    Example ``fed.toml``::

        [messenger]
        driver = "kafka"
        bootstrap_servers = ["kafka-1.dc1:9093", "kafka-1.dc2:9093"]
        security_protocol = "SSL"
        ssl_cafile = "kafka/ca.pem"
    """

    Options = KafkaOptions
    GAUGES = frozenset({"connected", "queued"})

    def __init__(self, options: PluginOptions, context: PluginContext):
        super().__init__(options, context)
        self.opts = cast(KafkaOptions, options)
        client_id = self.opts.client_id or f"oceanfed-{context.chain}-{context.me.name}"
        self.settings: ClientSettings = build_settings(self.opts, context.base_dir, client_id)
        self.topics = Topics.for_chain(self.opts.topic_prefix, context.chain)
        self._filter = StaleFilter(context.member_index, context.chain, self.opts.skip_stale)
        self._key = str(context.member_index).encode()
        self._log = context.logger.getChild("kafka")
        self._lock = threading.Lock()
        self._counts: dict[str, int] = dict.fromkeys(
            ("sent", "dropped", "received", "skipped_stale", "malformed", "unreadable", "reconnects"), 0
        )
        self._queue: queue.Queue[_Item | None] = queue.Queue(self.opts.send_queue)
        self._stop = threading.Event()
        self._producer: KafkaProducer | None = None
        self._consumer: KafkaConsumer | None = None
        self._admin: KafkaAdminClient | None = None
        self._threads: list[threading.Thread] = []
        self._deliver: Deliver | None = None
        self._outage_since: float | None = None
        self._outage_dropped = 0
        self._recovered_at = float("-inf")
        self._last_warn = 0.0
        self._started = False

    def __repr__(self) -> str:
        return f"KafkaMessenger({self.settings.servers!r}, topics={self.topics.names!r})"

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, deliver: Deliver) -> None:
        """Connect, create missing topics, position at the latest offsets, start threads.

        Raises MessengerError (one line naming the field) when the cluster cannot be used.
        """
        if self._started:
            raise MessengerError("kafka messenger: already started")
        logging.getLogger("kafka").setLevel(self.opts.client_log_level.upper())
        self._deliver = deliver
        self._stop.clear()
        self._queue = queue.Queue(self.opts.send_queue)
        o, common = self.opts, self.settings.common
        preflight(self.settings, o.connect_timeout_ms)
        # a batch a member writes holds one record of up to max_message_bytes, or small ones
        # up to _BATCH_BYTES: anything inflating past both, with room to spare, is hostile
        inflate.install(2 * (o.max_message_bytes + _BATCH_BYTES))
        try:
            self._admin = KafkaAdminClient(**common)
            self._prepare_topics(self._admin)
            self._producer = KafkaProducer(
                **common,
                acks=o.acks,
                linger_ms=o.linger_ms,
                compression_type=None if o.compression == "none" else o.compression,
                max_request_size=o.max_message_bytes,
                batch_size=_BATCH_BYTES,
                delivery_timeout_ms=max(o.delivery_timeout_ms, o.linger_ms + o.request_timeout_ms),
                max_block_ms=o.max_block_ms,
                enable_idempotence=False,
                allow_auto_create_topics=False,
            )
            self._consumer = KafkaConsumer(
                **common,
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="latest",
                fetch_max_wait_ms=o.fetch_max_wait_ms,
                max_partition_fetch_bytes=o.max_message_bytes,
                allow_auto_create_topics=False,
                metadata_max_age_ms=max(30_000, o.health_interval_ms),
            )
            parts = self._partitions(self._consumer)
            missing = [t for t in self.topics.names if not any(p.topic == t for p in parts)]
            if missing:
                raise MessengerError(
                    f"messenger.topic_prefix: topic {missing[0]} has no partitions on {self.settings.servers}"
                )
            self._consumer.assign(sorted(parts))
            for tp in parts:  # resolve "latest" now, so nothing sent after start() is missed
                self._consumer.position(tp, timeout_ms=o.connect_timeout_ms)
        except MessengerError:
            self._close_clients()
            raise
        except Exception as exc:
            self._close_clients()
            raise explain(exc, self.settings, o.connect_timeout_ms) from None
        self._started = True
        self._threads = [
            threading.Thread(target=self._send_loop, name="oceanfed-kafka-send", daemon=True),
            threading.Thread(target=self._consume_loop, name="oceanfed-kafka-recv", daemon=True),
        ]
        for t in self._threads:
            t.start()
        self._log.info(
            "kafka messenger connected to %s, topics %s",
            self.settings.servers,
            ", ".join(self.topics.names),
        )

    def close(self) -> None:
        """Stop both threads, send what is queued (briefly) and close the clients."""
        self._stop.set()
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        for t in self._threads:
            t.join(timeout=5)
        self._threads = []
        self._close_clients()
        self._started = False

    def _close_clients(self) -> None:
        # closing is best effort: a client may already be broken
        if self._producer is not None:
            with contextlib.suppress(Exception):
                self._producer.close(timeout=1)
            self._producer = None
        for client in (self._consumer, self._admin):
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close()
        self._consumer = None
        self._admin = None

    # -- Messenger API -----------------------------------------------------------------------

    def broadcast(self, data: bytes) -> None:
        """Queue ``data`` for the producer; never blocks. Dropped (and counted) if full."""
        if not self._started or self._stop.is_set():
            raise MessengerError("kafka messenger: broadcast before start() or after close()")
        kind = self._filter.sent(data) or "prevote"
        try:
            self._queue.put_nowait((self.topics.for_kind(kind), self._key, data, time.monotonic()))
        except queue.Full:
            self._count("dropped")
            self._warn_limited(
                "kafka send queue full (%d frames); frame dropped", self.opts.send_queue
            )

    def check(self) -> str:
        """Reach the cluster and look for the topics; raise MessengerError if unusable."""
        o = self.opts
        preflight(self.settings, o.connect_timeout_ms)
        # a batch a member writes holds one record of up to max_message_bytes, or small ones
        # up to _BATCH_BYTES: anything inflating past both, with room to spare, is hostile
        inflate.install(2 * (o.max_message_bytes + _BATCH_BYTES))
        try:
            admin = KafkaAdminClient(**self.settings.common)
        except Exception as exc:
            raise explain(exc, self.settings, o.connect_timeout_ms) from None
        try:
            missing = missing_topics(admin, self.topics)
        except Exception as exc:
            raise explain(exc, self.settings, o.connect_timeout_ms) from None
        finally:
            admin.close()
        if missing and not o.create_topics:
            raise MessengerError(
                f"messenger.create_topics: topic {missing[0]} does not exist on "
                f"{self.settings.servers}; create it or set create_topics = true"
            )
        state = f"{', '.join(missing)} created at start" if missing else "present"
        return (
            f"kafka {self.settings.servers} ({o.security_protocol}), acks={o.acks}: "
            f"topics {', '.join(self.topics.names)} {state}"
        )

    def stats(self) -> dict[str, int]:
        with self._lock:
            out = dict(self._counts)
        out["connected"] = int(self._started and self._outage_since is None)
        out["queued"] = self._queue.qsize()
        return out

    def outage(self) -> float | None:
        """Seconds the brokers have been unreachable (as seen by the health checks), 0.0
        while they answer. Silent peers alone are no outage: the member is waiting."""
        since = self._outage_since
        return 0.0 if since is None else time.monotonic() - since

    @property
    def connected(self) -> bool:
        """False while the brokers are unreachable (as seen by the last health check)."""
        return self._started and self._outage_since is None

    # -- topics and partitions ---------------------------------------------------------------

    def _prepare_topics(self, admin: KafkaAdminClient) -> None:
        if self.opts.create_topics:
            created = ensure_topics(
                admin, self.topics, self.opts.partitions, self.opts.replication_factor
            )
            if created:
                self._log.info("kafka: created topics %s", ", ".join(created))
            return
        missing = missing_topics(admin, self.topics)
        if missing:
            raise MessengerError(
                f"messenger.create_topics: topic {missing[0]} does not exist on "
                f"{self.settings.servers}; create it or set create_topics = true"
            )

    def _partitions(self, consumer: KafkaConsumer) -> set[TopicPartition]:
        return {
            TopicPartition(topic, p)
            for topic in self.topics.names
            for p in consumer.partitions_for_topic(topic) or ()
        }

    # -- sender thread -----------------------------------------------------------------------

    def _send_loop(self) -> None:
        producer = self._producer
        assert producer is not None
        limit = self.opts.delivery_timeout_ms / 1000
        while True:
            try:
                item = self._queue.get(timeout=0.2)
            except queue.Empty:
                if self._stop.is_set():
                    break
                continue
            if item is None:
                break
            topic, key, data, queued_at = item
            if time.monotonic() - queued_at > limit:
                self._count("dropped")
                continue
            try:
                future = producer.send(topic, value=data, key=key)
            except kerr.KafkaError as exc:
                self._send_failed(exc)
                continue
            future.add_callback(self._sent)
            future.add_errback(self._send_failed)
        with contextlib.suppress(kerr.KafkaError):
            producer.flush(timeout=1)

    def _sent(self, _metadata: Any) -> None:
        self._count("sent")

    def _send_failed(self, exc: BaseException) -> None:
        self._count("dropped")
        # frames sent during an outage may fail up to delivery_timeout_ms after it ends:
        # they belong to the outage, which was logged once already
        settling = time.monotonic() - self._recovered_at < self.opts.delivery_timeout_ms / 1000
        if self._outage_since is None and not settling:
            self._warn_limited("kafka: frame dropped (%s: %s)", type(exc).__name__, exc)
        else:
            self._log.debug("kafka: frame dropped (%s)", type(exc).__name__)

    # -- consumer thread ---------------------------------------------------------------------

    def _consume_loop(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        interval = self.opts.health_interval_ms / 1000
        next_check = time.monotonic() + interval
        while not self._stop.is_set():
            try:
                batches = consumer.poll(timeout_ms=_POLL_MS)
            except _UNREADABLE as exc:
                self._skip_unreadable(consumer, exc)
                batches = {}
            except kerr.KafkaError as exc:
                self._log.debug("kafka poll: %s", exc)
                batches = {}
                self._stop.wait(0.1)
            except Exception as exc:  # nothing on the topics may stop the consumer
                self._count("malformed")
                self._warn_limited("kafka: poll failed (%s: %s); continuing", type(exc).__name__, exc)
                batches = {}
                self._stop.wait(0.1)
            for records in batches.values():
                for record in records:
                    try:
                        self._on_frame(record.value)
                    except Exception as exc:  # one record must never stop the consumer
                        self._count("malformed")
                        self._warn_limited(
                            "kafka: dropped a record that could not be handled (%s)", type(exc).__name__
                        )
            now = time.monotonic()
            if now >= next_check:
                try:
                    self._health(consumer)
                except Exception as exc:  # the brokers went away mid-check
                    self._outage(exc)
                next_check = time.monotonic() + interval

    def _on_frame(self, data: bytes | None) -> None:
        if not data:
            self._count("malformed")
            return
        if len(data) > wire.MAX_FRAME:
            self._count("malformed")
            return
        verdict = self._filter.classify(data)
        if verdict is Verdict.DELIVER:
            self._count("received")
            deliver = self._deliver
            if deliver is None:
                return
            try:
                deliver(data)
            except Exception:  # a core bug must not stop the transport
                self._log.exception("kafka: deliver() raised")
        elif verdict is Verdict.STALE:
            self._count("skipped_stale")
        elif verdict is Verdict.MALFORMED:
            self._count("malformed")

    def _health(self, consumer: KafkaConsumer) -> None:
        """Probe the partition leaders; track outages; follow recreated topics and partitions."""
        timeout = max(self.opts.health_interval_ms, 500)
        assigned = set(consumer.assignment())
        try:
            ends = consumer.end_offsets(sorted(assigned), timeout_ms=timeout)
        except Exception as exc:  # any failure means "cannot use the cluster"
            self._outage(exc)
            if isinstance(exc, kerr.UnknownTopicOrPartitionError) and self.opts.create_topics:
                self._recreate_topics()
            return
        self._recovered()
        self._follow_partitions(consumer, assigned, ends)

    def _recreate_topics(self) -> None:
        """The brokers answer but our topics are gone (e.g. a broker without storage restarted)."""
        if self._admin is None:
            return
        try:
            created = ensure_topics(
                self._admin, self.topics, self.opts.partitions, self.opts.replication_factor
            )
        except Exception as exc:  # retried at the next health check
            self._log.debug("kafka: creating topics: %s", exc)
            return
        if created:
            self._log.info(
                "kafka: topics %s were missing and have been created", ", ".join(created)
            )

    def _follow_partitions(
        self,
        consumer: KafkaConsumer,
        assigned: set[TopicPartition],
        ends: dict[TopicPartition, int],
    ) -> None:
        reset = []
        for tp in assigned:
            pos = consumer.position(tp, timeout_ms=self.opts.request_timeout_ms)
            end = ends.get(tp)
            if pos is not None and end is not None and pos > end:
                reset.append(tp)  # the log restarted below us: everything in it is new
        if reset:
            self._log.info(
                "kafka: %d partition(s) were recreated; reading them from the start", len(reset)
            )
            consumer.seek_to_beginning(*reset)
        current = self._partitions(consumer)
        if current and current != assigned and {t.topic for t in current} == set(self.topics.names):
            positions = {
                tp: consumer.position(tp, timeout_ms=self.opts.request_timeout_ms)
                for tp in assigned & current
            }
            consumer.assign(sorted(current))
            for tp, pos in positions.items():
                if pos is not None:
                    consumer.seek(tp, pos)
            added = sorted(current - assigned)
            if added:  # created after we started, so all they hold is new
                consumer.seek_to_beginning(*added)
            self._log.info("kafka: now reading %d partition(s)", len(current))

    def _outage(self, exc: BaseException) -> None:
        if self._outage_since is not None:
            return
        self._outage_since = time.monotonic()
        with self._lock:
            self._outage_dropped = self._counts["dropped"]
        self._log.warning(
            "kafka: lost contact with %s (%s); reconnecting in the background, "
            "frames are retried for %.1f s then dropped",
            self.settings.servers,
            type(exc).__name__,
            self.opts.delivery_timeout_ms / 1000,
        )

    def _recovered(self) -> None:
        since = self._outage_since
        if since is None:
            return
        self._outage_since = None
        self._recovered_at = time.monotonic()
        with self._lock:
            self._counts["reconnects"] += 1
            dropped = self._counts["dropped"] - self._outage_dropped
        self._log.info(
            "kafka: reconnected to %s after %.1f s (%d frame(s) dropped meanwhile)",
            self.settings.servers,
            time.monotonic() - since,
            dropped,
        )

    # -- helpers -----------------------------------------------------------------------------

    def _skip_unreadable(self, consumer: KafkaConsumer, exc: Exception) -> None:
        """Step past a batch kafka-python cannot read (its CRC fails, it inflates past the
        bound, or its compression is refused). It raises without moving the position, and
        polling again would spin on the same batch for good: any writer to the topics could
        make every member deaf. The position moves to the batch's end (see
        :func:`~oceanfed_kafka.unreadable.batch_end`), or one record on where that is not
        known; the records skipped are lost to this member only."""
        self._count("unreadable")
        fetcher = getattr(consumer, "_fetcher", None)
        part = getattr(fetcher, "_next_partition_records", None)
        tp = getattr(part, "topic_partition", None)
        if not isinstance(tp, TopicPartition):
            # not where kafka-python 3 keeps it: go on from the latest offsets rather than
            # spin (what was not read yet is lost to this member; gossip sends it again)
            self._warn_limited("kafka: unreadable record (%s: %s); reading on from the latest offsets",
                               type(exc).__name__, exc)
            consumer.seek_to_end()
            return
        offset = consumer.position(tp)
        to = batch_end(exc, offset) or offset + 1
        consumer.seek(tp, to)  # the in-line records no longer match: dropped
        self._warn_limited("kafka: skipped an unreadable batch at %s[%d] offsets %d to %d (%s: %s)",
                           tp.topic, tp.partition, offset, to - 1, type(exc).__name__, exc)

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def _warn_limited(self, msg: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self._last_warn >= _WARN_EVERY:
            self._last_warn = now
            self._log.warning(msg, *args)
        else:
            self._log.debug(msg, *args)
