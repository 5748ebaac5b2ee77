"""The bounded decoders put into kafka-python's record modules (no broker needed)."""

from __future__ import annotations

import gzip

import kafka.codec
import kafka.record.default_records as default_records
import kafka.record.legacy_records as legacy_records
import pytest

from kafka import errors as kerr
from oceanfed.errors import MessengerError
from oceanfed_kafka import inflate


def test_a_gzip_batch_inflates_up_to_the_limit_and_not_past_it() -> None:
    inflate.install(4096)
    cap = inflate.limit()
    assert cap >= 4096
    assert default_records.gzip_decode is legacy_records.gzip_decode is inflate.gzip_decode
    assert kafka.codec.gzip_decode is inflate.gzip_decode
    assert inflate.gzip_decode(memoryview(gzip.compress(b"a" * cap))) == b"a" * cap
    two_members = gzip.compress(b"b" * (cap // 2)) + gzip.compress(b"c" * (cap // 2 + 1))
    with pytest.raises(kerr.CorruptRecordError, match=f"past {cap} bytes"):
        inflate.gzip_decode(two_members)
    with pytest.raises(kerr.CorruptRecordError, match=f"past {cap} bytes"):
        inflate.gzip_decode(gzip.compress(bytes(cap + 1)))


def test_a_batch_that_is_not_gzip_is_unreadable_not_an_error_of_another_kind() -> None:
    inflate.install(4096)
    for junk in (b"not gzip at all", gzip.compress(b"x" * 100)[:-9]):
        with pytest.raises(kerr.CorruptRecordError):
            inflate.gzip_decode(junk)


def test_codecs_members_never_write_are_refused_whatever_is_installed() -> None:
    inflate.install(4096)
    for module, name in ((default_records, "zstd_decode"), (default_records, "lz4_decode"),
                         (legacy_records, "snappy_decode"), (legacy_records, "lz4_decode_old_kafka")):
        with pytest.raises(kerr.UnsupportedCodecError):
            getattr(module, name)(b"\x00" * 64)


def test_the_bound_never_shrinks_below_what_a_messenger_asked_for() -> None:
    inflate.install(10_000_000)
    inflate.install(4096)
    assert inflate.limit() >= 10_000_000


def test_a_kafka_python_that_decodes_elsewhere_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bound works by replacing kafka-python's gzip decoder where its record modules
    look it up; were that name gone in another release, nothing would be bounded."""
    monkeypatch.delattr(legacy_records, "gzip_decode")
    with pytest.raises(MessengerError, match="legacy_records.gzip_decode"):
        inflate.install(4096)
