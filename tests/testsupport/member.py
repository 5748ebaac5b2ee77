"""One real consensus :class:`Machine` driven by hand, with frames signed by the other members.

Every member has a real transport key and a real block key; frames are made by
:func:`oceanfed.wire.encode` and block signatures by :func:`oceanfed.crypto.sign_digest`, so
the machine under test authenticates them exactly as in production
(:class:`~oceanfed.consensus.auth.WireAuthenticator`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import coincurve

from oceanfed import crypto, wire
from oceanfed.consensus import actions as A
from oceanfed.consensus import events as E
from oceanfed.consensus.auth import WireAuthenticator
from oceanfed.consensus.blocks import BlockInfo, describe
from oceanfed.consensus.machine import CoreConfig, Machine
from oceanfed.ocean.encoding import compact_size
from oceanfed.ocean.header import BlockHeader
from oceanfed.ocean.script import multisig_script

CHAIN = "rulesnet"
GENESIS = "00" * 32


def _key(kind: str, i: int) -> bytes:
    return hashlib.sha256(f"{kind}-key-{i}".encode()).digest()


def short(action: A.Action) -> tuple[Any, ...]:
    """An action as a short comparable tuple (what a rule's test asserts).

    ``Broadcast`` shows the frame's kind, round and block (or the SIG's block); ``Persist``
    shows the height record's round, lock and decision and the signed block.
    """
    if isinstance(action, A.Broadcast):
        env = wire.peek(action.data)
        p = env.payload
        if env.kind == "proposal":
            return ("Broadcast", "proposal", env.round, describe(p["block"]).block_hash, p.get("vr"))
        return ("Broadcast", env.kind, env.round, p.get("hash"))
    if isinstance(action, A.Persist):
        hs = action.record.get("height_state") or {}
        ss = action.record.get("sign_state") or {}
        locked = tuple(hs["locked"]) if hs.get("locked") else None
        return ("Persist", hs.get("round"), locked, hs.get("decided"), ss.get("block_hash"))
    if isinstance(action, (A.Validate, A.Sign, A.Submit)):
        return (type(action).__name__, action.block_hash)
    if isinstance(action, A.BuildProposal):
        return ("BuildProposal", action.round)
    return (type(action).__name__,)


@dataclass
class Member:
    """The machine of member ``me`` in an M-of-N federation at height 1, and the other
    members' keys to speak for them."""

    n: int = 4
    m: int = 3
    me: int = 0
    now: float = 0.0
    restored: dict[str, Any] | None = None
    #: the block interval (0: the round-0 proposer builds at once)
    block_time: float = 0.0
    #: every Persist record, as it would be read back from disk
    disk: dict[str, Any] | None = None
    cfg: CoreConfig = field(init=False)
    machine: Machine = field(init=False)

    def __post_init__(self) -> None:
        self.transport = [_key("transport", i) for i in range(self.n)]
        self.block_keys = [_key("block", i) for i in range(self.n)]
        self.block_pubs = [crypto.pubkey_of(k) for k in self.block_keys]
        self.challenge = multisig_script(self.m, self.block_pubs)
        self.cfg = CoreConfig(
            me=self.me, names=[f"m{i}" for i in range(self.n)], threshold=self.m,
            challenge=self.challenge, block_time=self.block_time, propose_timeout=1.0, prevote_timeout=1.0,
            precommit_timeout=1.0, timeout_step=0.5, gossip_interval=1000.0,
            tip_poll_interval=1000.0,
        )
        self.disk = self.restored
        #: the actions of the first start (the round-0 proposer asks for a block)
        self.started = self.boot()
        # the first tick gossips what the member holds (nothing yet); later ticks are timeouts
        assert self.handle(E.Tick()) == []

    def boot(self) -> list[tuple[Any, ...]]:
        """(Re)start the machine from what is on disk and let it find the tip (height 0).

        The machine gossips at its first tick: a restarted member re-sends what it holds."""
        auth = WireAuthenticator(CHAIN, self.me, self.transport[self.me],
                                 [crypto.pubkey_of(k) for k in self.transport], self.block_pubs)
        self.machine = Machine(self.cfg, auth, restored=json.loads(json.dumps(self.disk or {})))
        assert [short(a) for a in self.machine.start(self.now)] == [("QueryTip",)]
        return self.handle(E.NodeTip(0, GENESIS))

    # ------------------------------------------------------------------ driving

    def handle(self, event: E.Event, dt: float = 0.0) -> list[tuple[Any, ...]]:
        """Feed one event ``dt`` seconds later; return its actions without logs and hooks."""
        self.now += dt
        out = []
        for action in self.machine.handle(event, self.now):
            if isinstance(action, A.Persist):
                self.disk = json.loads(json.dumps(action.record))
            if not isinstance(action, (A.Log, A.Observation)):
                out.append(short(action))
        return out

    def tick_at_deadline(self) -> list[tuple[Any, ...]]:
        """Let time run to the machine's next deadline and tick."""
        self.now = max(self.now, self.machine.next_deadline())
        return self.handle(E.Tick())

    def block(self, salt: int) -> BlockInfo:
        """A well-formed block at height 1 on the genesis tip (different for each salt)."""
        header = BlockHeader(
            version=0x20000000, prev_hash=bytes(32),
            merkle_root=hashlib.sha256(f"rules-{salt}".encode()).digest(),
            contract_hash=bytes(32), attestation_hash=bytes(32), mapping_hash=bytes(32),
            time=1_700_000_001, height=1, challenge=self.challenge,
        )
        return describe((header.serialize() + compact_size(0)).hex())

    # ------------------------------------------------------------------ the other members

    def frame(self, sender: int, round: int, kind: str, payload: dict[str, Any]) -> bytes:
        return wire.encode(coincurve.PrivateKey(self.transport[sender]), CHAIN, sender, 1, round,
                           kind, payload)

    def proposer(self, round: int) -> int:
        return self.machine.proposer(1, round)

    def proposal(self, round: int, block: BlockInfo, vr: int = -1, pol: list[bytes] = ()) -> bytes:  # type: ignore[assignment]
        """The round's proposal, from its proposer."""
        return self.frame(self.proposer(round), round, "proposal",
                          {"block": block.block_hex, "vr": vr, "pol": [f.hex() for f in pol]})

    def vote(self, sender: int, round: int, kind: str, block: BlockInfo | None) -> bytes:
        return self.frame(sender, round, kind, {"hash": block.block_hash if block else None})

    def sig(self, sender: int, block: BlockInfo) -> bytes:
        der = crypto.sign_digest(self.block_keys[sender], block.digest)
        return self.frame(sender, 0, "sig", {"hash": block.block_hash, "sig": der.hex()})

    def receive(self, *frames: bytes) -> list[tuple[Any, ...]]:
        """Deliver frames in order; the actions of all of them."""
        out: list[tuple[Any, ...]] = []
        for f in frames:
            out += self.handle(E.Received(f))
        return out

    def others(self) -> list[int]:
        return [i for i in range(self.n) if i != self.me]

    # ------------------------------------------------------------------ common openings

    def prevoted(self, round: int, block: BlockInfo) -> list[tuple[Any, ...]]:
        """Receive ``block`` as the round's fresh proposal and answer its validation."""
        assert self.receive(self.proposal(round, block)) == [("Validate", block.block_hash)]
        return self.handle(E.Validated(1, block.block_hash, None))

    def locked_on(self, block: BlockInfo) -> None:
        """Round 0: prevote ``block``, see a polka for it, lock and precommit it."""
        self.prevoted(0, block)
        voters = [i for i in self.others()][: self.m - 1]
        self.receive(*(self.vote(i, 0, "prevote", block) for i in voters))
        assert self.machine.h is not None and self.machine.h.locked == (block.block_hash, 0)

    def next_round_by_nil(self, round: int) -> list[tuple[Any, ...]]:
        """Members other than us precommit nil in ``round`` until the round ends (N-M+1 of them)."""
        voters = self.others()[: self.n - self.m + 1]
        return self.receive(*(self.vote(i, round, "precommit", None) for i in voters))
