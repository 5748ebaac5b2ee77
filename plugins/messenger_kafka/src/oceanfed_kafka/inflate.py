"""Bounded decompression of record batches read from the topics.

kafka-python inflates a compressed batch whole, in memory, before it yields a record: a
gzip batch of 1 MiB of zeros inflates about a thousandfold, so any writer to the topics
could make every member allocate a gigabyte per batch. :func:`install` puts decoders in
kafka-python's record modules that stop at a limit and raise ``CorruptRecordError``, which
the messenger steps past like any unreadable batch. Members write batches uncompressed or
with gzip only, so the other codecs are refused outright, whichever libraries are installed.
"""

from __future__ import annotations

import gzip
import io
import threading
import zlib
from typing import Any

import kafka.codec as codec
import kafka.record.default_records as default_records
import kafka.record.legacy_records as legacy_records
from kafka.version import __version__ as kafka_version

from kafka import errors as kerr
from oceanfed.errors import MessengerError

_lock = threading.Lock()
_limit = 0


def limit() -> int:
    """The most a batch may inflate to in this process (0 before :func:`install`)."""
    return _limit


def install(max_inflated: int) -> None:
    """Bound every compressed batch this process reads to ``max_inflated`` bytes; raise
    MessengerError if kafka-python no longer decodes where this can bound it.

    The bound is process-wide, as kafka-python's decoders are: with several messengers in
    one process the largest bound asked for holds.
    """
    global _limit
    for module in (default_records, legacy_records):
        if not callable(getattr(module, "gzip_decode", None)):
            # a kafka-python that decodes elsewhere would inflate hostile batches whole again
            raise MessengerError(
                f"kafka messenger: kafka-python {kafka_version} has no {module.__name__}.gzip_decode, "
                "where oceanfed bounds what a record batch may inflate to; install a kafka-python "
                "this oceanfed was released with (3.0)"
            )
    with _lock:
        _limit = max(_limit, max_inflated)
        codec.gzip_decode = gzip_decode  # for a release that calls it through the module
        for module in (default_records, legacy_records):
            module.gzip_decode = gzip_decode
            for name in ("snappy_decode", "lz4_decode", "lz4_decode_old_kafka", "zstd_decode"):
                if hasattr(module, name):
                    setattr(module, name, _refuse)


def gzip_decode(payload: Any) -> bytes:
    """Inflate a gzip batch, reading at most :func:`limit` bytes of output."""
    cap = _limit
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(payload), mode="rb") as stream:
            data = stream.read(cap + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise kerr.CorruptRecordError(f"gzip record batch does not inflate ({exc})") from None
    if len(data) > cap:
        raise kerr.CorruptRecordError(f"gzip record batch inflates past {cap} bytes")
    return data


def _refuse(_payload: Any) -> bytes:
    raise kerr.UnsupportedCodecError("members write record batches uncompressed or with gzip only")
