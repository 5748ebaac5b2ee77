"""A frame's signature is verified once; repeats still pass every other check; a peer
speaking another wire version is refused with one line naming it and both versions."""

from __future__ import annotations

import hashlib
import json
import logging

import coincurve
import pytest

from oceanfed import wire
from oceanfed.consensus import events as E
from oceanfed.consensus.auth import WireAuthenticator
from oceanfed.consensus.counts import Kind, Tally
from oceanfed.driver import Driver
from oceanfed.errors import DecodeError
from oceanfed.metrics import DriverCollector
from testsupport.member import Member

KEYS = [coincurve.PrivateKey(hashlib.sha256(f"versions-{i}".encode()).digest()) for i in range(3)]
PUBS = [k.public_key.format() for k in KEYS]
CHAIN = "versionnet"


def body_of(sender: int, kind: str = "prevote", h: int = 7) -> bytes:
    return json.dumps({"chain": CHAIN, "from": sender, "h": h, "r": 0, "kind": kind,
                       "p": {"hash": "ab" * 32}}, separators=(",", ":"), sort_keys=True).encode()


def framed(body: bytes, sig: bytes, magic: bytes = wire.MAGIC) -> bytes:
    return magic + len(body).to_bytes(4, "big") + body + sig


def other_version(key: coincurve.PrivateKey, body: bytes, version: int = 2) -> bytes:
    """A frame as a member speaking wire version ``version`` would send it."""
    domain = b"oceanfed/message/v%d\x00" % version
    return framed(body, key.sign(hashlib.sha256(domain + body).digest(), hasher=None),
                  b"OFD%d" % version)


def test_the_version_is_in_the_magic_and_the_domain_tag() -> None:
    assert wire.MAGIC == b"OFD%d" % wire.VERSION
    assert wire.DOMAIN == b"oceanfed/message/v%d\x00" % wire.VERSION
    frame = wire.encode(KEYS[1], CHAIN, 1, 7, 0, "prevote", {"hash": "ab" * 32})
    assert wire.version_of(frame) == str(wire.VERSION)
    assert wire.version_of(other_version(KEYS[1], body_of(1), 7)) == "7"
    assert wire.version_of(b"OFD\xff" + bytes(8)) == "0xff"
    assert wire.version_of(b"GET / HTTP/1.1") is None


def test_a_frame_of_another_version_is_refused_even_validly_signed() -> None:
    data = other_version(KEYS[1], body_of(1))
    with pytest.raises(DecodeError, match="^wrong-version$"):
        wire.decode(data, PUBS, CHAIN)
    # re-signed under our domain it is ours again: the magic alone was refused
    body = data[8:8 + len(body_of(1))]
    ours = framed(body, KEYS[1].sign(hashlib.sha256(wire.DOMAIN + body).digest(), hasher=None))
    assert wire.decode(ours, PUBS, CHAIN).sender == 1
    # our magic on a frame signed under the other version's domain: a bad signature
    with pytest.raises(DecodeError, match="^bad-signature$"):
        wire.decode(framed(body, data[8 + len(body):]), PUBS, CHAIN)


def test_a_repeat_skips_the_verify_and_nothing_else() -> None:
    cache = wire.VerifiedFrames()
    frame = wire.encode(KEYS[1], CHAIN, 1, 7, 0, "prevote", {"hash": "ab" * 32})
    assert wire.decode(frame, PUBS, CHAIN, cache).sender == 1
    assert len(cache) == 1
    assert wire.decode(frame, PUBS, CHAIN, cache).sender == 1
    assert len(cache) == 1
    # the other checks still run on a repeat
    with pytest.raises(DecodeError, match="^wrong-chain$"):
        wire.decode(frame, PUBS, "othernet", cache)
    with pytest.raises(DecodeError, match="^non-member$"):
        wire.decode(frame, PUBS[:1], CHAIN, cache)
    # another member's key list: the same frame verified against that key, and refused
    with pytest.raises(DecodeError, match="^bad-signature$"):
        wire.decode(frame, [PUBS[0], PUBS[2]], CHAIN, cache)


def test_the_same_body_with_another_signature_is_still_refused() -> None:
    cache = wire.VerifiedFrames()
    body = body_of(1)
    good = framed(body, KEYS[1].sign(hashlib.sha256(wire.DOMAIN + body).digest(), hasher=None))
    wire.decode(good, PUBS, CHAIN, cache)
    forged = [
        framed(body, KEYS[2].sign(hashlib.sha256(wire.DOMAIN + body).digest(), hasher=None)),
        framed(body, good[8 + len(body):-1] + bytes([good[-1] ^ 1])),
        framed(body, b"\x30\x06\x02\x01\x01\x02\x01\x01"),
    ]
    for data in forged:
        with pytest.raises(DecodeError, match="^bad-signature$"):
            wire.decode(data, PUBS, CHAIN, cache)
    # and the good signature on another body
    other = body_of(1, h=8)
    with pytest.raises(DecodeError, match="^bad-signature$"):
        wire.decode(framed(other, good[8 + len(body):]), PUBS, CHAIN, cache)
    assert len(cache) == 1


def test_the_cache_is_bounded() -> None:
    cache = wire.VerifiedFrames(size=8)
    frames = [wire.encode(KEYS[1], CHAIN, 1, h, 0, "prevote", {"hash": "ab" * 32}) for h in range(20)]
    for f in frames:
        wire.decode(f, PUBS, CHAIN, cache)
    assert len(cache) == 8
    for f in frames:  # the forgotten ones are verified again, and still pass
        assert wire.decode(f, PUBS, CHAIN, cache).sender == 1
    assert len(cache) == 8


def test_the_authenticator_verifies_a_gossiped_frame_once(monkeypatch: pytest.MonkeyPatch) -> None:
    auth = WireAuthenticator(CHAIN, 0, KEYS[0].secret, PUBS, PUBS)
    frame = wire.encode(KEYS[1], CHAIN, 1, 7, 0, "prevote", {"hash": "ab" * 32})
    checks = []
    original = coincurve.PublicKey.verify

    def counted(self: coincurve.PublicKey, *args: object, **kwargs: object) -> bool:
        checks.append(1)
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(coincurve.PublicKey, "verify", counted)
    for _ in range(3):
        assert auth.open(frame).sender == 1
    assert len(checks) == 1


def test_a_peer_of_another_version_gets_one_line_and_a_counted_drop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Real frames of wire version 2 through the driver's intake."""
    member = Member()
    block = member.block(1)
    driver = Driver(member.machine, node=None, signer=None, messenger=None, store=None)  # type: ignore[arg-type]
    ours = member.vote(2, 0, "prevote", block)
    key = coincurve.PrivateKey(member.transport[2])
    theirs = other_version(key, ours[8:8 + int.from_bytes(ours[4:8], "big")])
    with caplog.at_level(logging.DEBUG, logger="oceanfed.driver"):
        for _ in range(5):
            driver._deliver(theirs, "m2")
        driver._deliver(ours, "m2")
    lines = [r.getMessage() for r in caplog.records if "wrong-version" in r.getMessage()]
    assert lines == ["dropped 1 frame(s) from m2: wrong-version "
                     "(it speaks oceanfed wire version 2, this member version 1)"]
    assert caplog.records[0].levelno == logging.WARNING
    assert driver.drops.counts()[("m2", "wrong-version")] == 5
    exported = {tuple(sorted(s.labels.items())): s.value
                for family in DriverCollector(driver).collect() for s in family.samples
                if s.name == "oceanfed_frames_dropped_total"}
    assert exported[(("peer", "m2"), ("reason", "wrong-version"))] == 5
    queued = []
    while not driver.inbox.empty():
        queued.append(driver.inbox.get())
    assert [f.event.data for f in queued if not isinstance(f, E.Event | None)] == [ours]


def test_drops_the_machine_finds_are_put_down_to_the_frames_peer() -> None:
    member = Member()
    block = member.block(1)
    member.machine.counters[Tally(Kind.DROPPED, "stale")] += 3  # counted before the driver: not a peer's
    driver = Driver(member.machine, node=None, signer=None, messenger=None, store=None)  # type: ignore[arg-type]
    vote = member.vote(2, 0, "prevote", block)
    forged = vote[:-8] + bytes(8)
    for data, peer in ((forged, "m2"), (forged, "m3"), (vote, "m3"), (vote, "m3")):
        driver._deliver(data, peer)
    while not driver.inbox.empty():
        item = driver.inbox.get()
        assert not isinstance(item, E.Event | None)
        driver._on_frame(item)
    counts = driver.drops.counts()
    assert counts == {("m2", "bad-signature"): 1, ("m3", "bad-signature"): 1,
                      ("m3", "duplicate"): 1}, counts
    assert member.machine.counters[Tally(Kind.DROPPED, "bad-signature")] == 2
    assert member.machine.counters[Tally(Kind.DROPPED, "stale")] == 3
