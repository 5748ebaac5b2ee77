"""A step's record encodes only the frames new to it, and reads the same as one made afresh."""

from __future__ import annotations

import json
import pickle

from oceanfed.consensus import events as E
from testsupport.member import Member


def _decided() -> tuple[Member, str]:
    mb = Member(n=4, m=3, me=0)
    b = mb.block(1)
    mb.locked_on(b)
    mb.receive(mb.vote(1, 0, "precommit", b), mb.vote(2, 0, "precommit", b))
    return mb, b.block_hash


def test_record_reuses_frames_hex_and_is_unchanged() -> None:
    mb, block_hash = _decided()
    h = mb.machine.h
    assert h is not None and h.decided == block_hash
    first = h.record()
    assert first["proposals"][block_hash] == h.proposal_frames[block_hash].hex()
    assert first["evidence"] == [f.hex() for f in h.evidence()] and len(first["evidence"]) >= 3
    second = h.record()
    assert json.dumps(second) == json.dumps(first)
    # the same text, not encoded again
    assert second["proposals"][block_hash] is first["proposals"][block_hash]
    assert all(a is b for a, b in zip(second["evidence"], first["evidence"], strict=True))
    # a frame that arrives later joins the record (nothing stale is cached)
    mb.machine.handle(E.Received(mb.vote(3, 0, "precommit", mb.machine.h.blocks[block_hash])), mb.now)
    assert len(h.record()["evidence"]) == len(first["evidence"]) + 1


def test_the_hex_cache_is_not_part_of_the_state() -> None:
    mb, _ = _decided()
    h = mb.machine.h
    assert h is not None
    h.record()
    assert h.hexed
    copy = pickle.loads(pickle.dumps(h))
    assert copy.hexed == {} and copy.record() == h.record()
