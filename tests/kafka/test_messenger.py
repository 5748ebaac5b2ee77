"""The Kafka messenger against a real Tansu broker: delivery, layout, offsets, stale frames."""

from __future__ import annotations

import struct
import time
from collections.abc import Callable

import pytest

from kafka import KafkaConsumer, TopicPartition
from oceanfed import wire
from oceanfed_kafka.broker import TansuBroker
from testsupport.memory import PeakRss, rss_mb

from .conftest import Fed, Inbox, MessengerFactory, wait_until

pytestmark = pytest.mark.kafka


def test_frames_reach_every_other_member_but_not_the_sender(
    fed: Fed, messengers: MessengerFactory
) -> None:
    boxes = [Inbox() for _ in range(3)]
    ms = [messengers(fed, i, boxes[i]) for i in range(3)]
    sent = []
    for i, m in enumerate(ms):
        for kind in ("proposal", "prevote", "precommit", "sig"):
            frame = fed.frame(i, 1, 0, kind, n=i)
            m.broadcast(frame)
            sent.append((i, frame))
    for i, box in enumerate(boxes):
        expected = {f for s, f in sent if s != i}
        wait_until(
            lambda box=box, expected=expected: expected <= set(box.snapshot()),
            what=f"member {i} inbox",
        )
    time.sleep(0.3)  # let any echo of our own frames arrive
    for i, box in enumerate(boxes):
        got = box.snapshot()
        assert len(got) == len(set(got)) == 8, f"member {i} got duplicates or extras"
        assert all(wire.peek(f).sender != i for f in got)
    assert all(m.stats()["sent"] == 4 and m.stats()["received"] == 8 for m in ms)


def test_proposals_and_votes_use_their_own_topics(
    fed: Fed, messengers: MessengerFactory, broker: TansuBroker
) -> None:
    m0 = messengers(fed, 0, Inbox(), topic_prefix="fedx")
    box = Inbox()
    messengers(fed, 1, box, topic_prefix="fedx")
    assert m0.topics.names == ("fedx.ocean_test.proposals", "fedx.ocean_test.votes")
    proposal, vote, sig = (
        fed.frame(0, 3, 0, "proposal"),
        fed.frame(0, 3, 0, "prevote"),
        fed.frame(0, 3, 0, "sig"),
    )
    for f in (proposal, vote, sig):
        m0.broadcast(f)
    wait_until(lambda: {proposal, vote, sig} <= set(box.snapshot()), what="three frames")

    raw = KafkaConsumer(
        bootstrap_servers=[broker.bootstrap], group_id=None, enable_auto_commit=False
    )
    try:
        by_topic: dict[str, list[bytes]] = {}
        for topic in m0.topics.names:
            parts = [TopicPartition(topic, p) for p in raw.partitions_for_topic(topic)]
            raw.assign(parts)
            raw.seek_to_beginning(*parts)
            records: list[bytes] = []
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and len(records) < (1 if "proposals" in topic else 2):
                for recs in raw.poll(timeout_ms=200).values():
                    records += [r.value for r in recs]
            by_topic[topic] = records
    finally:
        raw.close()
    assert by_topic["fedx.ocean_test.proposals"] == [proposal]
    assert by_topic["fedx.ocean_test.votes"] == [vote, sig]


def test_a_new_member_starts_at_the_latest_offset(fed: Fed, messengers: MessengerFactory) -> None:
    box1 = Inbox()
    m0 = messengers(fed, 0, Inbox())
    messengers(fed, 1, box1)
    before = fed.frame(0, 1, 0, "prevote", tag="before")
    m0.broadcast(before)
    wait_until(lambda: box1.has(before), what="frame at member 1")
    box2 = Inbox()
    messengers(fed, 2, box2)  # joins after `before` is in the log
    after = fed.frame(0, 1, 0, "prevote", tag="after")
    m0.broadcast(after)
    wait_until(lambda: box2.has(after), what="frame at member 2")
    time.sleep(0.2)
    assert not box2.has(before)


def test_stale_heights_and_rounds_are_skipped(fed: Fed, messengers: MessengerFactory) -> None:
    box0 = Inbox()
    m0 = messengers(fed, 0, box0)
    m1 = messengers(fed, 1, Inbox())
    m0.broadcast(fed.frame(0, 10, 3, "prevote"))  # member 0 is at height 10, round 3
    stale = [
        fed.frame(1, 9, 5, "precommit"),  # a decided height
        fed.frame(1, 9, 0, "sig"),
        fed.frame(1, 10, 1, "prevote"),  # a prevote two rounds behind
    ]
    kept = [
        fed.frame(1, 10, 2, "prevote"),  # previous round: still gossiped
        fed.frame(1, 10, 0, "precommit"),  # precommits of any round can decide
        fed.frame(1, 10, 0, "proposal"),  # ... and deciding needs that round's proposal
        fed.frame(1, 10, 3, "sig"),
        fed.frame(1, 11, 0, "prevote"),  # ahead of us
    ]
    for f in stale + kept:
        m1.broadcast(f)
    wait_until(lambda: set(kept) <= set(box0.snapshot()), what="fresh frames")
    wait_until(lambda: m0.stats()["skipped_stale"] == len(stale), what="stale count")
    assert not set(stale) & set(box0.snapshot())


def test_skip_stale_can_be_turned_off(fed: Fed, messengers: MessengerFactory) -> None:
    box0 = Inbox()
    m0 = messengers(fed, 0, box0, skip_stale=False)
    m1 = messengers(fed, 1, Inbox())
    m0.broadcast(fed.frame(0, 10, 0, "prevote"))
    old = fed.frame(1, 2, 0, "precommit")
    m1.broadcast(old)
    wait_until(lambda: box0.has(old), what="old frame delivered")


def test_malformed_and_foreign_frames_are_not_delivered(
    fed: Fed, messengers: MessengerFactory
) -> None:
    box0 = Inbox()
    m0 = messengers(fed, 0, box0)
    m1 = messengers(fed, 1, Inbox())
    other_chain = Fed(3, chain="other")
    other_chain.keys = fed.keys
    foreign = other_chain.frame(1, 5, 0, "prevote")
    good = fed.frame(1, 5, 0, "prevote")
    m1.broadcast(b"not a frame")
    m1.broadcast(foreign)
    m1.broadcast(good)
    wait_until(lambda: box0.has(good), what="good frame")
    assert box0.snapshot() == [good]
    assert m0.stats()["malformed"] == 1


def test_one_way_latency_figures(fed: Fed, messengers: MessengerFactory) -> None:
    """Prints broadcast-to-deliver latency on loopback (a figure, not an assertion)."""
    arrived: dict[bytes, float] = {}
    m0 = messengers(fed, 0, Inbox())
    messengers(fed, 1, lambda data: arrived.setdefault(data, time.perf_counter()))
    warm = fed.frame(0, 1, 0, "prevote", warm=True)
    m0.broadcast(warm)
    wait_until(lambda: warm in arrived, what="warm-up frame")
    samples = []
    for n in range(200):
        frame = fed.frame(0, 2, 0, "precommit" if n % 2 else "proposal", n=n, pad="00" * 150)
        t0 = time.perf_counter()
        m0.broadcast(frame)
        wait_until(lambda frame=frame: frame in arrived, what=f"frame {n}")
        samples.append((arrived[frame] - t0) * 1000)
    samples.sort()
    print(
        f"\nkafka one-way latency over {len(samples)} frames: "
        f"p50 {samples[len(samples) // 2]:.2f} ms, p99 {samples[int(len(samples) * 0.99)]:.2f} ms"
    )
    assert len(samples) == 200


def test_nested_json_does_not_stop_the_consumer(fed: Fed, messengers: MessengerFactory) -> None:
    """main's consumer thread died on this record (RecursionError from peeking at it)."""
    box0 = Inbox()
    m0 = messengers(fed, 0, box0)
    m1 = messengers(fed, 1, Inbox())
    body = b"[" * 200_000 + b"]" * 200_000
    m1.broadcast(wire.MAGIC + len(body).to_bytes(4, "big") + body + b"sig")
    m1.broadcast(b"\x00" * 16)
    good = fed.frame(1, 5, 0, "prevote")
    m1.broadcast(good)
    wait_until(lambda: box0.has(good), what="the good frame after the nested one")
    assert m0.stats()["malformed"] >= 2
    assert all(t.is_alive() for t in m0._threads)


def _write_tampered(servers: str, topic: str, value: bytes,
                    tamper: Callable[[bytearray], None]) -> int:
    """What a hostile writer to the topics can do: a record batch changed by ``tamper``
    after the writer's own client built it (the broker stores it as it came), one to each
    partition; the members' clients are untouched. Returns how many were written."""
    import kafka.record.memory_records as records

    from kafka import KafkaProducer

    build = records.MemoryRecordsBuilder.buffer

    def tampered(self):  # type: ignore[no-untyped-def]
        raw = bytearray(build(self))
        tamper(raw)
        return bytes(raw)

    producer = KafkaProducer(bootstrap_servers=servers, acks="all")
    records.MemoryRecordsBuilder.buffer = tampered  # type: ignore[method-assign]
    try:
        partitions = producer.partitions_for(topic)
        for partition in partitions:
            producer.send(topic, value, partition=partition).get(10)
    finally:
        records.MemoryRecordsBuilder.buffer = build  # type: ignore[method-assign]
        producer.close(timeout=2)
    return len(partitions)


def _write_corrupt_record(servers: str, topic: str, value: bytes) -> int:
    """A record whose batch fails its CRC: one byte of the value flipped."""

    def flip(raw: bytearray) -> None:
        raw[raw.find(value)] ^= 0xFF

    return _write_tampered(servers, topic, value, flip)


def _write_wide_corrupt_batch(servers: str, topic: str, value: bytes, claimed: int) -> int:
    """An unreadable batch (its CRC fails) whose header claims ``claimed`` offsets."""

    def widen(raw: bytearray) -> None:
        struct.pack_into(">i", raw, 23, claimed - 1)  # lastOffsetDelta, covered by the CRC

    return _write_tampered(servers, topic, value, widen)


@pytest.mark.parametrize("claimed", [1, 1_000_000])
def test_an_unreadable_batch_is_skipped_not_spun_on(
        fed: Fed, messengers: MessengerFactory, broker, claimed: int) -> None:
    """kafka-python raises for a batch whose CRC fails without moving on, and polled again
    it spun on that batch for good (at full CPU): one writer could make every member deaf.
    The consumer steps past it and the frames after it arrive. It used to step one offset
    per poll, so a batch claiming a million offsets kept it deaf for a million polls; it
    steps to the batch's end, as kafka-python does after a batch it has read."""
    box0 = Inbox()
    m0 = messengers(fed, 0, box0)
    m1 = messengers(fed, 1, Inbox())
    first = fed.frame(1, 5, 0, "prevote", n=1)
    m1.broadcast(first)
    wait_until(lambda: box0.has(first), what="the frame before")
    written = 0
    for topic in m0.topics.names:
        if claimed == 1:
            written += _write_corrupt_record(broker.bootstrap, topic, b"UNREADABLE-RECORD")
        else:
            written += _write_wide_corrupt_batch(broker.bootstrap, topic, b"WIDE-BATCH", claimed)
    after = [fed.frame(1, 5, 0, "prevote", n=2), fed.frame(1, 5, 0, "proposal", n=3)]
    for frame in after:
        m1.broadcast(frame)
    wait_until(lambda: all(box0.has(f) for f in after), what="the frames after the unreadable ones")
    # each batch stepped past at once (a prefetched copy of it may be met once more)
    assert 1 <= m0.stats()["unreadable"] <= 2 * written
    assert all(t.is_alive() for t in m0._threads)


def _write_gzip_bomb(servers: str, topic: str, inflated_mb: int) -> None:
    """A valid gzip record batch (its CRC holds) whose payload inflates to ``inflated_mb``
    MB of zeros from about a thousandth of that: the hostile writer's client compresses its
    own stream in place of the record; the members' clients are untouched."""
    import zlib

    import kafka.record.default_records as records

    from kafka import KafkaProducer

    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = bytes(2**20)
    bomb = b"".join(packer.compress(chunk) for _ in range(inflated_mb)) + packer.flush()
    encode = records.gzip_encode
    producer = KafkaProducer(bootstrap_servers=servers, acks="all", compression_type="gzip")
    records.gzip_encode = lambda _data: bomb  # type: ignore[attr-defined]
    try:
        for partition in producer.partitions_for(topic):
            # a record larger than the bomb, or the client would send it uncompressed
            producer.send(topic, bytes(len(bomb) + 4096), partition=partition).get(10)
    finally:
        records.gzip_encode = encode  # type: ignore[attr-defined]
        producer.close(timeout=2)


def test_a_gzip_bomb_is_skipped_without_inflating_it(fed: Fed, messengers: MessengerFactory, broker) -> None:
    """kafka-python inflates a compressed batch whole before it reads a record: one batch of
    256 KB made a member allocate 256 MB, twice over. A batch may now inflate only to twice
    max_message_bytes and a batch_size; past that it is an unreadable batch, stepped past."""
    box0 = Inbox()
    m0 = messengers(fed, 0, box0, compression="gzip")
    m1 = messengers(fed, 1, Inbox(), compression="gzip")
    first = fed.frame(1, 5, 0, "prevote", n=1, pad="00" * 4000)  # gzip works for members
    m1.broadcast(first)
    wait_until(lambda: box0.has(first), what="the frame before")
    before = rss_mb()
    sampler = PeakRss()
    sampler.start()
    try:
        for topic in m0.topics.names:
            _write_gzip_bomb(broker.bootstrap, topic, 256)
        after = [fed.frame(1, 5, 0, "prevote", n=2), fed.frame(1, 5, 0, "proposal", n=3)]
        for frame in after:
            m1.broadcast(frame)
        wait_until(lambda: all(box0.has(f) for f in after), what="the frames after the bombs")
    finally:
        grown = sampler.stop() - before
    print(f"\nRSS peaked {grown:.0f} MB above the start while two 256 MB gzip batches were read")
    assert m0.stats()["unreadable"] >= 2
    # inflated whole, one batch alone peaks at 512 MB (the stream, then its copy); bounded,
    # each read stops at about 2 MB (14 MB on an idle machine, 69 MB once in a long busy run)
    assert grown < 200
    assert all(t.is_alive() for t in m0._threads)
