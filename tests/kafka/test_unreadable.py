"""Where an unreadable batch ends, read off kafka-python's own reader as it raises."""

from __future__ import annotations

import struct

import pytest
from kafka.consumer.fetcher import Fetcher
from kafka.errors import CorruptRecordError
from kafka.record.memory_records import MemoryRecords, MemoryRecordsBuilder
from kafka.structs import TopicPartition

from oceanfed_kafka.unreadable import batch_end

TP = TopicPartition("t", 0)


def _batch(base: int, values: list[bytes], claimed: int | None = None, corrupt: bool = False) -> bytes:
    builder = MemoryRecordsBuilder(magic=2, compression_type=0, batch_size=1 << 20)
    for i, value in enumerate(values):
        builder.append(timestamp=1_700_000_000_000 + i, key=None, value=value, headers=[])
    builder.close()
    raw = bytearray(builder.buffer())
    struct.pack_into(">q", raw, 0, base)  # the base offset, as the broker sets it
    if claimed is not None:
        struct.pack_into(">i", raw, 23, claimed - 1)  # lastOffsetDelta: the CRC no longer holds
    if corrupt:
        raw[raw.find(values[0])] ^= 0xFF
    return bytes(raw)


def _take_all(data: bytes, fetch_offset: int) -> tuple[list[int], BaseException]:
    part = Fetcher.PartitionRecords(fetch_offset, TP, MemoryRecords(data))
    got: list[int] = []
    with pytest.raises(CorruptRecordError) as err:
        while part:
            got.extend(r.offset for r in part.take(1))
    return got, err.value


def test_a_batch_claiming_a_million_offsets_ends_where_it_claims() -> None:
    got, exc = _take_all(_batch(40, [b"a"], claimed=1_000_000), 40)
    assert got == [] and batch_end(exc, 40) == 1_000_040


def test_a_corrupt_batch_after_good_ones_ends_at_its_own_end() -> None:
    data = _batch(0, [b"a", b"b"]) + _batch(2, [b"c", b"d", b"e"], corrupt=True) + _batch(5, [b"f"])
    got, exc = _take_all(data, 0)
    assert got == [0, 1] and batch_end(exc, 2) == 5


def test_an_error_raised_elsewhere_has_no_batch_end() -> None:
    try:
        raise CorruptRecordError("not from the reader")
    except CorruptRecordError as exc:
        assert batch_end(exc, 0) is None


def test_an_end_no_batch_can_have_is_not_taken() -> None:
    """A header no broker wrote: an end past int64, whose seek could not be encoded (the
    consumer would fail every poll), or one not past the position."""
    top = 2**63 - 2
    _, exc = _take_all(_batch(top, [b"a"], claimed=2**31), top)
    assert batch_end(exc, top) is None
    _, exc = _take_all(_batch(40, [b"a"], claimed=1_000_000), 40)
    assert batch_end(exc, 40 + 1_000_000) is None
    assert batch_end(exc, 40 + 1_000_000 - 1) == 1_000_040
