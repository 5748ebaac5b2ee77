"""Which received frames are not worth handing to the core (read with ``wire.peek``).

The member's own position is learnt from what it broadcasts: the highest (height, round)
of its own frames. A received frame is skipped when it is

* our own (every member reads the shared topics, so it sees its own frames come back);
* for another chain;
* for a height below ours: that height is decided and our node has moved on;
* a PREVOTE more than one round below ours at our height: prevotes only count in the
  round they are cast, the core re-sends the current and previous round's votes, and a
  re-proposal carries its own proof of lock.

PROPOSALs and PRECOMMITs of an earlier round at our height are kept: M precommits in
any round decide a block, and deciding needs that round's proposal. SIGs are kept.
Frames that do not parse are skipped too; the core would reject them anyway.
"""

from __future__ import annotations

import threading
from enum import Enum

from oceanfed import wire
from oceanfed.errors import DecodeError


class Verdict(str, Enum):
    DELIVER = "deliver"
    OWN = "own"
    FOREIGN = "foreign"
    STALE = "stale"
    MALFORMED = "malformed"


class StaleFilter:
    """Tracks this member's (height, round) and classifies received frames. Thread-safe."""

    def __init__(self, me: int, chain: str, skip_stale: bool = True):
        self.me = me
        self.chain = chain
        self.skip_stale = skip_stale
        self._lock = threading.Lock()
        self._height = -1
        self._round = -1

    @property
    def position(self) -> tuple[int, int]:
        with self._lock:
            return self._height, self._round

    def sent(self, data: bytes) -> str | None:
        """Note a frame we broadcast; return its kind, or None if it does not parse."""
        try:
            env = wire.peek(data)
        except DecodeError:
            return None
        with self._lock:
            if env.height > self._height:
                self._height, self._round = env.height, env.round
            elif env.height == self._height and env.round > self._round:
                self._round = env.round
        return env.kind

    def classify(self, data: bytes) -> Verdict:
        try:
            env = wire.peek(data)
        except DecodeError:
            return Verdict.MALFORMED
        if env.sender == self.me:
            return Verdict.OWN
        if env.chain != self.chain:
            return Verdict.FOREIGN
        if not self.skip_stale:
            return Verdict.DELIVER
        height, rnd = self.position
        if env.height < height:
            return Verdict.STALE
        if env.height == height and env.kind == "prevote" and env.round < rnd - 1:
            return Verdict.STALE
        return Verdict.DELIVER
