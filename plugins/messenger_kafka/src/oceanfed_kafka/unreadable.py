"""Where an unreadable record batch ends, so the consumer steps past all of it at once.

kafka-python raises ``CorruptRecordError`` for a batch it cannot read (a failed CRC, a
compressed payload past the inflation bound) from inside its record generator, without
moving the position. The batch it was reading is still a local of that generator's frame
in the exception's traceback; its header says where the next batch begins
(``next_offset``: base offset + last offset delta + 1, what kafka-python itself seeks to
after a batch it has read). Without it the consumer could only step one offset per poll,
and a batch claiming a million offsets would keep a member deaf for a million polls.
"""

from __future__ import annotations

#: the kafka-python generator that reads a fetched partition's batches
_READER = "_unpack_records"
#: how far past the position a batch can end: its last offset delta is an int32
_MAX_SPAN = 2**31
#: the last offset a fetch can ask for (an int64)
_MAX_OFFSET = 2**63 - 1


def batch_end(exc: BaseException, position: int) -> int | None:
    """The offset after the batch being read at ``position`` when ``exc`` was raised; None
    if unknown (not raised inside kafka-python's reader, or a legacy message set, whose
    header holds no offset range) or not past ``position`` by at most what one batch can
    span (a header no broker wrote, whose seek could not even be encoded)."""
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_name == _READER:
            end = getattr(frame.f_locals.get("batch"), "next_offset", None)
            if type(end) is int and position < end <= min(position + _MAX_SPAN, _MAX_OFFSET):
                return end
            return None
        tb = tb.tb_next
    return None
