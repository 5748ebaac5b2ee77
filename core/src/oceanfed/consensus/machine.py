"""The per-member consensus state machine: decide a block per height, then sign it.

Sans-I/O: :meth:`Machine.handle` takes an event and the current time and returns the
actions to perform, in order. It never reads a clock, a socket or a disk. The protocol is
Tendermint's (Buchman, Kwon and Milosevic, "The latest gossip on BFT consensus", 2018,
Algorithm 1, with the quorum set to the federation's threshold M) followed by one signing
step, as /work/shared/design/ROUNDS.md and docs/protocol.md explain:

propose → prevote → precommit → (M precommits) decide → persist sign-state → sign → SIG
→ (M SIGs) combine → submit → next height.

Theory of operation
===================

The machine holds one :class:`HeightState` (the height being decided, ``Machine.h``) and
one :class:`SignState` (what this member has signed, for ever). An event first updates what
the machine knows (a vote is stored, a verdict is noted, a timer fires); then the rules
(:attr:`Machine.RULES`, one method per line of Algorithm 1 or of the signing step) run in
their order until none fires. A rule fires at most once per state it finds: each one
changes the state it reads (a step, a lock, a decision) or records that it acted.

What each part of the height state means:

- ``round`` and ``step`` (:class:`Step`): where this member is in the algorithm
  (``round_p`` and ``step_p``). The step only moves forward within a round.
- ``locked`` (:class:`Lock`): the block this member precommitted last and its round
  (``lockedValue``/``lockedRound``); ``valid`` (:class:`Valid`): the most recent block with a
  polka (M prevotes) seen here, re-proposed with that polka as its proof of lock
  (``validValue``/``validRound``). ``decided``: the block decided at this height.
- ``sent``: our own votes, (round, kind) → value; persisted before each vote leaves.
  ``proposed``: our own proposals, round → (block, valid round); persisted likewise.
- ``votes``: every signed vote, (kind, round) → :class:`VoteSet`, the one store of votes:
  each sender's first value (what "M votes" and "M nil votes" count) and every distinct
  value's frames (an equivocator's second value too, so that forwarded evidence counts).
- ``proposal``: round → the first proposal seen (block, valid round); ``blocks``: every
  block learnt at this height; ``validity``: block → :class:`Validity` (absent: pending).
- ``signatures`` (:class:`Signatures`): the signing step: verified block signatures by block
  and member, those waiting for their block, our SIG frame, whether our signer is working,
  and what was submitted. ``building``: a block has been asked of the node.
- ``timing`` (:class:`Timing`): only reported with the block (latency, phases).
- ``Machine.timers``: one deadline per :class:`Timer`; :meth:`Machine._armed` says which of
  them count now, and both :meth:`Machine.next_deadline` and a tick read only that.

Invariants:

- Nothing is sent before the state that explains it is persisted (``Persist`` precedes the
  ``Broadcast``): our votes and proposals, the lock, the decision and the sign-state.
- At most one vote per (round, kind) and one proposal per round leave this member; a vote or
  proposal of ours learnt back from a peer is adopted, never contradicted.
- ``locked.round`` never decreases within a height; ``valid.round`` never decreases.
- The sign-state never goes back and never names two blocks at one height; a block signature
  is requested only for ``decided`` and only once the sign-state naming it is persisted.
- Nothing is proposed, voted or signed below a height this member already acted on
  (:meth:`Machine._waiting`).
- Everything kept per peer is bounded (the ``*_WINDOW``, ``*_PER_PEER`` and
  ``*_PER_SENDER`` limits below); what is dropped is counted.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from enum import Enum, IntEnum
from functools import cached_property
from operator import itemgetter
from types import MappingProxyType
from typing import Any, ClassVar, NamedTuple

from oceanfed.consensus import actions as A
from oceanfed.consensus import events as E
from oceanfed.consensus.auth import Authenticator
from oceanfed.consensus.blocks import BlockInfo, complete, describe
from oceanfed.consensus.counts import Kind, Tally
from oceanfed.errors import DecodeError
from oceanfed.wire import Envelope

log = logging.getLogger(__name__)


class Step(str, Enum):
    """Where a member is within a round (Algorithm 1's ``step_p``); also a vote's kind."""

    PROPOSE = "propose"
    PREVOTE = "prevote"
    PRECOMMIT = "precommit"

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


NIL = None
PROPOSE, PREVOTE, PRECOMMIT = Step.PROPOSE, Step.PREVOTE, Step.PRECOMMIT


class Timer(IntEnum):
    """The machine's deadlines, in the order a tick fires those that are due."""

    TIP_POLL = 0  # ask the node for its tip
    RETRY = 1  # retry a failed node call or signature
    VALIDATE_RETRY = 2  # ask again for verdicts the node failed to give
    READY = 3  # the block interval is over: the round-0 proposer builds its block
    PROPOSE = 4  # Algorithm 1's timeoutPropose
    PREVOTE = 5  # timeoutPrevote
    PRECOMMIT = 6  # timeoutPrecommit
    ROUND = 7  # last resort: a round that makes no progress at all ends
    GOSSIP = 8  # re-send what peers may have missed
    SUBMIT = 9  # a completed block has not landed: a member that is not its submitter submits


#: the timers that belong to one height (the others run across heights)
HEIGHT_TIMERS = frozenset(Timer) - {Timer.TIP_POLL, Timer.GOSSIP}


class Lock(NamedTuple):
    """The block this member precommitted last, and its round (``lockedValue``/``lockedRound``)."""

    block: str
    round: int


class Proposal(NamedTuple):
    """A proposal's block and its valid round (-1 for a fresh block)."""

    block: str
    valid_round: int


class Valid(NamedTuple):
    """The most recent block with a polka seen here, and its round (``validValue``/``validRound``)."""

    block: str
    round: int


@dataclass(frozen=True)
class Validity:
    """What this member knows of a block's validity: pending, valid, or refused with a reason."""

    pending: bool = False
    #: why the block was refused (None: valid, once not pending)
    reason: str | None = None

    @property
    def valid(self) -> bool:
        return not self.pending and self.reason is None


PENDING = Validity(pending=True)
VALID = Validity()

#: frames of future heights kept per peer while catching up, in number and in bytes
FUTURE_FRAMES_PER_PEER = 256
FUTURE_BYTES_PER_PEER = 16 * 1024 * 1024
#: proposals are taken for rounds up to this many above the current one (see docs/security.md)
PROPOSAL_ROUND_WINDOW = 2
#: votes are stored for rounds up to this many above the current one; beyond, only the
#: sender's round is noted (for the round skip) and gossip brings the vote again later
VOTE_ROUND_WINDOW = 2
#: distinct values kept per sender for one (kind, round): its vote and one conflicting one
VOTE_VALUES_PER_SENDER = 2
#: how many processed frames we remember, to skip gossip repeats cheaply
SEEN_FRAMES = 8192
#: what a NodeFailed event may name: the node call that failed
NODE_CALLS = frozenset({"tip", "build", "validate", "submit"})
#: how many accepted blocks :meth:`Machine.status` lists
RECENT_BLOCKS = 64
#: delay before retrying a failed node call or signature
RETRY_DELAY = 0.5
#: a failed validation (node warming up, unreachable…) is retried after RETRY_DELAY, doubling
#: per consecutive failure up to this
VALIDATE_RETRY_MAX = 2.0
#: after refusing to sign (the sign-state names another block), ask again only after this
SIGN_REFUSED_RETRY = 3600.0
#: the rules run at most this many passes per event (a pass fires at most one rule)
MAX_RULE_PASSES = 64
#: why a peer's frame is dropped unread when it can change nothing (:meth:`Machine._settled`)
SETTLED_VOTE, SETTLED_SIG = "settled-vote", "settled-sig"
SETTLED = frozenset({SETTLED_VOTE, SETTLED_SIG})
#: how soon to look at the node's tip when a peer is already at a later height
TIP_POLL_SOON = 0.05
#: a submitted block whose height the tip has not reached is submitted again after
#: max(this, 4 × tip_poll_interval)
RESUBMIT_AFTER = 2.0
#: a completed block is submitted at once by its submitters (:meth:`Machine._submits_at_once`),
#: by every other member only if it has not landed this long after that member combined it
SUBMIT_GRACE = 0.1


@dataclass
class VoteSet:
    """Every signed vote of one kind in one round: the one store of votes.

    ``first`` is each sender's first value: "M votes" and "M nil votes" count those, so an
    equivocator counts once. ``frames`` keeps every distinct value's signed frames by sender,
    an equivocator's second value too, so that forwarded evidence counts."""

    first: dict[int, str | None] = field(default_factory=dict)
    frames: dict[str | None, dict[int, bytes]] = field(default_factory=dict)

    def add(self, sender: int, value: str | None, frame: bytes) -> bool:
        """Keep a vote; True if the sender's first vote here was for another value."""
        self.frames.setdefault(value, {}).setdefault(sender, frame)
        return self.first.setdefault(sender, value) != value

    def senders(self) -> int:
        """How many members voted here, whatever for."""
        return len(self.first)

    def first_votes(self, value: str | None) -> int:
        """How many members' first vote here is for ``value``."""
        return sum(1 for v in self.first.values() if v == value)

    def support(self, value: str | None) -> int:
        """How many members signed a vote for ``value`` here (equivocators included)."""
        return len(self.frames.get(value, ()))

    def values_of(self, sender: int) -> int:
        """How many distinct values ``sender`` voted for here."""
        return sum(1 for senders in self.frames.values() if sender in senders)

    def proof(self, value: str | None) -> list[bytes]:
        """The signed votes for ``value`` (e.g. a polka: a proof of lock)."""
        return list(self.frames.get(value, {}).values())


_SECOND = itemgetter(1)

#: what :meth:`HeightState.votes_of` answers for a round without votes (one, never added to)
NO_VOTES = VoteSet()


@dataclass(frozen=True)
class CoreConfig:
    """What the machine needs from the config."""

    me: int
    names: list[str]
    threshold: int
    challenge: bytes
    block_time: float = 60.0
    propose_timeout: float = 2.0
    prevote_timeout: float = 1.0
    precommit_timeout: float = 1.0
    timeout_step: float = 0.5
    gossip_interval: float = 0.5
    tip_poll_interval: float = 0.5

    @cached_property
    def n(self) -> int:
        return len(self.names)


#: CoreConfig's timing defaults by field name: the config model's ``[rounds]`` and
#: ``federation.block_time`` defaults are taken from here, so the two cannot differ
CORE_DEFAULTS: Mapping[str, float] = MappingProxyType(
    {f.name: f.default for f in dataclass_fields(CoreConfig) if isinstance(f.default, float)}
)


@dataclass
class Signatures:
    """The signing step of one height: block signatures (ours and the peers'), and the
    completed blocks submitted."""

    #: block -> member -> verified block signature
    verified: dict[str, dict[int, bytes]] = field(default_factory=dict)
    #: signatures whose block is not known here yet (at most one block per sender)
    unverified: dict[str, dict[int, bytes]] = field(default_factory=dict)
    #: block -> member -> its signatures over the proposal's extras (plugins)
    extras: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)
    pending_extras: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)
    #: our own SIG frame, re-sent by gossip
    own_frame: bytes | None = None
    #: a signature has been asked of our signer and not answered yet
    requested: bool = False
    #: block -> when it was submitted (submitted again if the tip has not moved)
    submitted: dict[str, float] = field(default_factory=dict)
    #: when this member may submit the block it combined (None: none combined yet)
    submit_at: float | None = None


@dataclass
class Timing:
    """What a height reports with its block (latency, phases); nothing is decided on it."""

    started_at: float = 0.0
    #: when each block was first seen here (proposed or received): latency is measured from it
    first_seen: dict[str, float] = field(default_factory=dict)
    #: the block interval used for this height (shorter while catching up)
    interval: float = 0.0
    #: when each step of this height first happened (reported with the block, in ms)
    marks: dict[str, float] = field(default_factory=dict)


@dataclass
class HeightState:
    """Everything about the height being decided. Durable parts are in :meth:`record`."""

    height: int
    parent: str
    ready_at: float
    round: int = 0
    step: Step = Step.PROPOSE
    locked: Lock | None = None
    valid: Valid | None = None
    decided: str | None = None
    #: our votes: (round, kind) -> value; persisted so that we never vote twice differently
    sent: dict[tuple[int, str], str | None] = field(default_factory=dict)
    sent_frames: dict[tuple[int, str], bytes] = field(default_factory=dict)
    blocks: dict[str, BlockInfo] = field(default_factory=dict)
    #: what the proposer attached to each block (plugins' extras), first valid sighting wins
    extras: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: verdicts on blocks (a block without one is pending: see :meth:`validity_of`)
    validity: dict[str, Validity] = field(default_factory=dict)
    validating: set[str] = field(default_factory=set)
    #: consecutive failed validations (not verdicts), retried at ``Timer.VALIDATE_RETRY``
    validate_failures: int = 0
    #: our own proposals by round; persisted before they are broadcast
    proposed: dict[int, Proposal] = field(default_factory=dict)
    #: round -> the first proposal seen; all proposal frames by block hash
    proposal: dict[int, Proposal] = field(default_factory=dict)
    proposal_frames: dict[str, bytes] = field(default_factory=dict)
    #: the highest round each peer has sent a message for
    peer_round: dict[int, int] = field(default_factory=dict)
    polka_seen: set[int] = field(default_factory=set)
    #: every signed vote: (kind, round) -> its :class:`VoteSet`
    votes: dict[tuple[str, int], VoteSet] = field(default_factory=dict)
    #: the signing step: block signatures, ours and the peers'
    signatures: Signatures = field(default_factory=Signatures)
    building: bool = False
    #: what is only reported (latency, phases), never decided on
    timing: Timing = field(default_factory=Timing)
    #: frames' hex as :meth:`record` wrote them (a frame never changes): a step's record
    #: encodes only the frames new to it; not part of the state (not pickled)
    hexed: dict[bytes, str] = field(default_factory=dict, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        return {**vars(self), "hexed": {}}

    def _hex(self, frame: bytes) -> str:
        text = self.hexed.get(frame)
        if text is None:
            text = self.hexed[frame] = frame.hex()
        return text

    def votes_of(self, kind: str, round: int) -> VoteSet:
        """The votes of ``kind`` in ``round`` (an empty set, not stored, if there are none:
        read it, never add to it)."""
        return self.votes.get((kind, round)) or NO_VOTES

    def vote_rounds(self, kind: str) -> list[int]:
        """The rounds holding votes of ``kind``, in the order their first vote came."""
        return [rnd for k, rnd in self.votes if k == kind]

    def validity_of(self, block_hash: str) -> Validity:
        """The verdict on ``block_hash``, PENDING until the node and the hooks have answered."""
        return self.validity.get(block_hash, PENDING)

    def record(self) -> dict[str, Any]:
        """The durable part, as persisted (its format is read back by :meth:`Machine._restore`)."""
        own = self.proposed[max(self.proposed)].block if self.proposed else None
        keep = {h for h in (self.locked and self.locked.block, self.valid and self.valid.block,
                            self.decided, own)
                if h}
        return {
            "height": self.height,
            "parent": self.parent,
            "round": self.round,
            "locked": list(self.locked) if self.locked else None,
            "valid": list(self.valid) if self.valid else None,
            "decided": self.decided,
            "blocks": {h: self.blocks[h].block_hex for h in keep if h in self.blocks},
            "extras": {h: self.extras[h] for h in keep if self.extras.get(h)},
            "sent": [[r, k, v] for (r, k), v in sorted(self.sent.items())],
            "proposed": [[r, bh, vr] for r, (bh, vr) in sorted(self.proposed.items())],
            "evidence": [self._hex(f) for f in self.evidence()],
            "proposals": {h: self._hex(self.proposal_frames[h]) for h in keep if h in self.proposal_frames},
        }

    def evidence(self) -> list[bytes]:
        """Signed votes a restart must not lose: the valid block's pol, the decision's precommits."""
        frames: list[bytes] = []
        if self.valid:
            frames.extend(self.votes_of(PREVOTE, self.valid.round).proof(self.valid.block))
        if self.decided:
            for (kind, _rnd), votes in self.votes.items():
                if kind == PRECOMMIT:
                    frames.extend(votes.proof(self.decided))
        return frames


@dataclass
class SignState:
    """The irrevocable rule: never sign below ``height``, never sign two blocks at it."""

    height: int = -1
    block_hash: str | None = None
    parent: str | None = None

    def allows(self, height: int, block_hash: str) -> bool:
        if height < self.height:
            return False
        return not (height == self.height and block_hash != self.block_hash)


@dataclass(frozen=True)
class Snapshot:
    """What other threads (metrics, ``/status``) may read of a machine: a copy that nothing
    updates. The loop publishes a new one after each event (:meth:`Machine.snapshot`)."""

    names: tuple[str, ...]
    counters: Mapping[Tally, int]
    tip: tuple[int, str] | None
    height: int | None
    round: int | None
    step: Step | None
    locked: Lock | None
    decided: str | None
    signed_height: int
    signed_block: str | None
    last_block: dict[str, Any] | None
    recent_blocks: tuple[dict[str, Any], ...]
    #: when each peer was last heard from (authenticated), by member index
    peer_seen: Mapping[int, float]

    @classmethod
    def blank(cls) -> Snapshot:
        """The view of no machine (nothing seen yet)."""
        return cls(names=(), counters=MappingProxyType({}), tip=None, height=None, round=None,
                   step=None, locked=None, decided=None, signed_height=-1, signed_block=None,
                   last_block=None, recent_blocks=(), peer_seen=MappingProxyType({}))

    def status(self) -> dict[str, Any]:
        """What ``oceanfed status`` shows of the machine (JSON-ready)."""
        return {
            "tip": {"height": self.tip[0], "hash": self.tip[1]} if self.tip else None,
            "height": self.height,
            "round": self.round,
            "step": self.step,
            "locked": self.locked,
            "decided": self.decided,
            "sign_state": {"height": self.signed_height, "block_hash": self.signed_block},
            "last_block": self.last_block,
            "recent_blocks": list(self.recent_blocks),
            "peers_seen": {self.names[i]: t for i, t in sorted(self.peer_seen.items())},
            "counters": {str(key): value for key, value in self.counters.items()},
        }


Rule = Callable[["Machine", HeightState], bool]


def _rules_by_state(rules: tuple[Rule, ...], undecided_only: set[Rule], decided_only: set[Rule],
                    at_steps: dict[Rule, set[Step]]) -> dict[tuple[bool, str], tuple[Rule, ...]]:
    """``rules`` by (decided, step), each where it can fire (see :attr:`Machine.RULES_BY_STATE`)."""
    return {
        (decided, step): tuple(
            r for r in rules
            if r not in (undecided_only if decided else decided_only) and step in at_steps.get(r, Step)
        )
        for decided in (False, True) for step in Step
    }


class Machine:
    """One member's consensus state machine."""

    def __init__(self, cfg: CoreConfig, auth: Authenticator, restored: dict[str, Any] | None = None):
        self.cfg = cfg
        self.auth = auth
        self.counters: Counter[Tally] = Counter()
        self.h: HeightState | None = None
        self.sign_state = SignState()
        self.tip: tuple[int, str] | None = None
        self.anchor_time: float | None = None
        self._restored_height: dict[str, Any] | None = None
        if restored:
            ss = restored.get("sign_state") or {}
            self.sign_state = SignState(
                int(ss.get("height", -1)), ss.get("block_hash"), ss.get("parent")
            )
            self._restored_height = restored.get("height_state")
        self._future: list[Envelope] = []
        #: per peer: (frames, bytes) held in ``_future``
        self._future_load: dict[int, tuple[int, int]] = {}
        #: the restored height this member must not act below (its node is still importing)
        self._waiting_logged = False
        self._now = 0.0
        self._out: list[A.Action] = []
        self._querying_tip = False
        #: the tip query in flight was sent before the last block landed (see _on_tip)
        self._tip_query_stale = False
        #: the height whose block landed last, and the record of a height left because the
        #: node's tip went back below it (see _tip_went_back)
        self._landed_state: HeightState | None = None
        self._left_height: dict[str, Any] | None = None
        #: the rules last ran until none fired (see :meth:`_rules_at_rest`)
        self._at_rest = True
        #: every deadline of this member; :meth:`_armed` says which of them count now
        self.timers: dict[Timer, float] = {Timer.TIP_POLL: 0.0, Timer.GOSSIP: 0.0}
        self.last_block: dict[str, Any] | None = None
        #: the blocks this member saw accepted most recently (for status and benchmarks)
        self.recent_blocks: deque[dict[str, Any]] = deque(maxlen=RECENT_BLOCKS)
        #: hashes of frames already processed (gossip repeats them); bounded
        self._seen_frames: set[int] = set()
        #: when we last heard from each peer (authenticated)
        self.peer_seen: dict[int, float] = {}

    # ------------------------------------------------------------------ public API

    def handle(self, event: E.Event, now: float) -> list[A.Action]:
        """Feed one event at time ``now``; return the actions to perform in order.

        Raises TypeError for an object that is not an event (a bug in the caller)."""
        self._now = now
        self._out = []
        match event:  # a peer's frame first: the most frequent event
            case E.Received(data=data):
                if not self._on_received(data) and self._rules_at_rest():
                    return self._out  # a frame dropped unread changed nothing the rules read
            case E.Tick():
                self._on_tick()
            case E.NodeTip():
                self._on_tip(event)
            case E.NodeFailed() | E.ProposalBuilt() | E.Validated() | E.Signed() | E.Submitted():
                self._on_answer(event)
            case _:
                raise TypeError(f"Machine.handle: not a consensus event: {event!r}")
        self._progress()
        return self._out

    def start(self, now: float) -> list[A.Action]:
        """The first actions after construction: find our node's tip."""
        self._now = now
        self._out = []
        self._query_tip()
        return self._out

    def next_deadline(self) -> float:
        """The earliest time at which a Tick has something to do."""
        best: float | None = None
        for timer, at in self.timers.items():
            # a timer no earlier than the best so far cannot change it: not judged
            if (best is None or at < best) and self._counts(timer):
                best = at
        if best is None:
            raise ValueError("no timer counts")  # as min() of nothing; TIP_POLL always counts
        return best

    def proposer(self, height: int, round: int) -> int:
        """Index of the member that proposes at (height, round)."""
        return (height + round) % self.cfg.n

    def snapshot(self) -> Snapshot:
        """A copy of what observers read, safe to hand to another thread."""
        h = self.h
        return Snapshot(
            names=tuple(self.cfg.names),
            counters=MappingProxyType(dict(self.counters)),
            tip=self.tip,
            height=h.height if h else None,
            round=h.round if h else None,
            step=h.step if h else None,
            locked=h.locked if h else None,
            decided=h.decided if h else None,
            signed_height=self.sign_state.height,
            signed_block=self.sign_state.block_hash,
            last_block=self.last_block,
            recent_blocks=tuple(self.recent_blocks),
            peer_seen=MappingProxyType(dict(self.peer_seen)),
        )

    def status(self) -> dict[str, Any]:
        """What ``oceanfed status`` shows of the machine (JSON-ready)."""
        return self.snapshot().status()

    # ------------------------------------------------------------------ helpers

    def _emit(self, action: A.Action) -> None:
        self._out.append(action)

    def _tally(self, kind: Kind, reason: str = "") -> None:
        self.counters[Tally(kind, reason)] += 1

    def _log(self, level: str, message: str, **fields: Any) -> None:
        self._emit(A.Log(level, message, fields))

    def _am_proposer(self, round: int) -> bool:
        return self.h is not None and self.proposer(self.h.height, round) == self.cfg.me

    def _timeout(self, base: float, round: int) -> float:
        return base + round * self.cfg.timeout_step

    def _persist(self) -> None:
        assert self.h is not None
        self._emit(
            A.Persist(
                {
                    "sign_state": {
                        "height": self.sign_state.height,
                        "block_hash": self.sign_state.block_hash,
                        "parent": self.sign_state.parent,
                    },
                    # while the node catches up, the saved height's record stays on disk
                    "height_state": (self._restored_height if self._restored_height is not None
                                     else self.h.record()),
                }
            )
        )

    def _query_tip(self) -> None:
        if not self._querying_tip:
            self._querying_tip = True
            self._emit(A.QueryTip())
        self.timers[Timer.TIP_POLL] = self._now + self.cfg.tip_poll_interval

    # ------------------------------------------------------------------ heights and rounds

    def _on_tip(self, ev: E.NodeTip) -> None:
        self._querying_tip = False
        stale, self._tip_query_stale = self._tip_query_stale, False
        if ev.anchor_time is not None:
            self.anchor_time = ev.anchor_time
        if self.tip is not None and ev.height < self.tip[0]:
            if stale:  # asked before our block landed: the node has it now
                self._log("info", f"node tip {ev.height} from before block {self.tip[0]} landed; ignored")
            else:
                self._tip_went_back(ev)
            return
        self.tip = (ev.height, ev.block_hash)
        h = self.h
        if (h is not None and ev.height == h.height and ev.block_hash in h.blocks
                and len(h.signatures.verified.get(ev.block_hash, {})) >= self.cfg.threshold):
            self._landed(h, ev.height, ev.block_hash)  # completed here, submitted by another
        elif h is None or ev.height >= h.height:
            self._start_height(ev.height + 1, ev.block_hash)
        elif ev.height == h.height - 1 and ev.block_hash != h.parent:
            self._log("warning", f"node tip changed under height {h.height}; restarting it")
            self._start_height(ev.height + 1, ev.block_hash)

    def _tip_went_back(self, ev: E.NodeTip) -> None:
        """The node's tip is below one it showed or accepted: it lost blocks (a restore, a
        crash before they were on its disk). Follow it. If the lost block is the one that
        landed last, its height is taken up again with its M signatures, and the block is
        submitted again; the height left is kept, to be taken up again on the same parent.
        Nothing is signed that the sign-state forbids: a member that signed above the new
        tip waits for its node to get back there (:meth:`_waiting`)."""
        assert self.tip is not None
        h, saved = self.h, self._landed_state
        if h is not None and h.height > ev.height and (h.sent or h.decided):
            self._left_height = h.record()
        self.tip = (ev.height, ev.block_hash)
        if (saved is not None and saved.height == ev.height + 1 and saved.parent == ev.block_hash
                and saved.decided is not None and saved.decided in saved.blocks):
            self._log("warning", f"node tip went back from {saved.height} to {ev.height}: it lost "
                      f"block {saved.decided}; submitting it again")
            self._landed_state = None
            self.h = saved
            for timer in HEIGHT_TIMERS:
                self.timers.pop(timer, None)
            saved.signatures.submitted.clear()
            saved.signatures.submit_at = None
            self._seen_frames.clear()
        else:
            self._log("warning", f"node tip went back to {ev.height}; following it")
            self._start_height(ev.height + 1, ev.block_hash)

    def _interval(self, height: int) -> float:
        bt = self.cfg.block_time
        if bt <= 0:
            return 0.0
        if self.anchor_time is not None and height > 2:
            expected_tip = 1 + int((self._now - self.anchor_time) // bt)
            if height - 1 < expected_tip - 1:
                return bt / 2  # behind schedule: catch up, as the upstream tool does
        return bt

    def _start_height(self, height: int, parent: str) -> None:
        """Start deciding ``height`` on ``parent``: resume the saved record if it is this
        height's, start its round, and take the frames of this height put aside earlier."""
        interval = self._interval(height)
        h = HeightState(height=height, parent=parent, ready_at=self._now + interval)
        h.timing.interval = interval
        if 0 < interval < self.cfg.block_time:
            self._tally(Kind.CATCH_UP_HEIGHTS)
        h.timing.started_at = self._now
        self.h = h
        for timer in HEIGHT_TIMERS:
            self.timers.pop(timer, None)
        self.timers[Timer.READY] = h.ready_at
        if self._restored_height:
            self._resume_saved(h, self._restored_height)
        left = self._left_height
        if left is not None and height >= left["height"]:
            self._left_height = None
            if height == left["height"] and left["parent"] == parent and self._restored_height is None:
                self._restore(h, left)
        # a restarted height (e.g. the node's tip changed under it) must see its frames again
        self._seen_frames.clear()
        future, self._future = self._future, []
        self._future_load = {}
        if self._waiting():
            self._tally(Kind.HEIGHTS_WAITED)
        else:
            self._start_round(h.round)
        for env in future:
            if env.height == height:
                self._dispatch(env)
            elif env.height > height:
                self._buffer_future(env)

    def _resume_saved(self, h: HeightState, r: dict[str, Any]) -> None:
        """The saved height record after a restart: taken up at its height, dropped above it,
        kept (and acted on by nobody) while the node is still below it."""
        height = h.height
        saved = r.get("height")
        if not isinstance(saved, int) or height > saved:
            # the node has a block at the saved height: it was decided; nothing to keep
            self._restored_height = None
        elif height == saved:
            self._restored_height = None
            if r.get("parent") == h.parent:
                self._restore(h, r)
                self._log("info", f"height {height}: resumed at round {h.round} from saved state")
            else:
                self._log("warning", f"height {height}: saved state is for another parent; dropped")
        elif not self._waiting_logged:
            # the node is still importing: keep the saved votes and lock until it gets there
            self._waiting_logged = True
            self._log("info", f"node tip {height - 1} is behind the saved height {saved}; "
                      "waiting for it before voting")

    def _waiting(self) -> bool:
        """Whether the current height is below one this member already acted on.

        After a restart while the node is still importing, the saved height's record is kept
        and nothing is proposed, voted or signed below it (or below the signed height): this
        member may have voted there before, and the record of those votes is gone.
        """
        h = self.h
        if h is None:
            return True
        if self._restored_height is None:
            return h.height < self.sign_state.height
        saved = self._restored_height.get("height")
        floor = max(self.sign_state.height, saved if isinstance(saved, int) else -1)
        return h.height < floor

    def _buffer_future(self, env: Envelope) -> bool:
        """Keep a frame of a later height, within the per-peer bounds; False if dropped."""
        frames, size = self._future_load.get(env.sender, (0, 0))
        if frames >= FUTURE_FRAMES_PER_PEER or size + len(env.raw) > FUTURE_BYTES_PER_PEER:
            self._tally(Kind.DROPPED, "future-full")
            return False
        self._future_load[env.sender] = (frames + 1, size + len(env.raw))
        self._future.append(env)
        return True

    def _restore(self, h: HeightState, r: dict[str, Any]) -> None:
        for block_hash, block_hex in (r.get("blocks") or {}).items():
            try:
                info = describe(block_hex)
            except DecodeError:
                continue
            if info.block_hash == block_hash:
                h.blocks[block_hash] = info
        h.extras.update(r.get("extras") or {})
        h.round = int(r.get("round", 0))
        if r.get("locked"):
            h.locked = Lock(r["locked"][0], int(r["locked"][1]))
        if r.get("valid"):
            h.valid = Valid(r["valid"][0], int(r["valid"][1]))
        h.decided = r.get("decided")
        for rnd, kind, value in r.get("sent") or []:
            h.sent[(int(rnd), kind)] = value
        for rnd, block_hash, vr in r.get("proposed") or []:
            h.proposed[int(rnd)] = Proposal(block_hash, int(vr))
        # our own votes and the evidence we held count again after a restart
        for (rnd, kind), value in h.sent.items():
            frame = self.auth.seal(h.height, rnd, kind, {"hash": value})
            h.votes.setdefault((kind, rnd), VoteSet()).add(self.cfg.me, value, frame)
        for block_hash, raw in (r.get("proposals") or {}).items():
            if block_hash in h.blocks and isinstance(raw, str):
                h.proposal_frames[block_hash] = bytes.fromhex(raw)
        for raw in r.get("evidence") or []:
            try:
                env = self.auth.open(bytes.fromhex(raw))
            except (DecodeError, ValueError, TypeError):
                continue
            if env.height == h.height and env.kind in (PREVOTE, PRECOMMIT):
                self._record_vote(env)

    def _start_round(self, round: int) -> None:
        h = self.h
        assert h is not None
        h.round = round
        h.step = PROPOSE
        self.timers.pop(Timer.PREVOTE, None)
        self.timers.pop(Timer.PRECOMMIT, None)
        h.building = False
        start = max(self._now, h.ready_at) if round == 0 else self._now
        propose_at = self.timers[Timer.PROPOSE] = start + self._timeout(self.cfg.propose_timeout, round)
        self.timers[Timer.ROUND] = propose_at + 2 * (
            self._timeout(self.cfg.propose_timeout, round)
            + self._timeout(self.cfg.prevote_timeout, round)
            + self._timeout(self.cfg.precommit_timeout, round)
        )
        # votes already sent in this round (after a restart) fix our step
        if (round, PRECOMMIT) in h.sent:
            h.step = PRECOMMIT
        elif (round, PREVOTE) in h.sent:
            h.step = PREVOTE
        for kind in (PREVOTE, PRECOMMIT):
            if (round, kind) in h.sent and (round, kind) not in h.sent_frames:
                self._send_vote(kind, h.sent[(round, kind)], already_recorded=True)
        if self._am_proposer(round) and h.step == PROPOSE:
            if round in h.proposed:
                # proposed before a restart: the same block again, never another one
                block_hash, vr = h.proposed[round]
                if block_hash in h.blocks:
                    self._propose(h.blocks[block_hash], vr)
            elif h.valid is not None and h.valid.block in h.blocks:
                self._propose(h.blocks[h.valid.block], h.valid.round)
            elif round > 0 or self._now >= h.ready_at:
                self._build()

    def _build(self) -> None:
        """Ask the node for a block, unless one is asked for already or a failed build
        waits for ``Timer.RETRY`` (the node is down: asking again at once would spin)."""
        h = self.h
        assert h is not None
        if not h.building and not self._build_waits():
            h.building = True
            self._emit(A.BuildProposal(h.height, h.round))

    def _build_waits(self) -> bool:
        """Whether a failed build waits for ``Timer.RETRY`` before the node is asked again."""
        return self.timers.get(Timer.RETRY, 0.0) > self._now

    def _propose(self, info: BlockInfo, valid_round: int, extras: dict[str, Any] | None = None) -> None:
        h = self.h
        assert h is not None
        own = h.proposed.get(h.round)
        if own is not None and own.block != info.block_hash:
            self._tally(Kind.PROPOSAL_WITHHELD, "already-proposed")
            return
        if extras is not None:
            h.extras.setdefault(info.block_hash, extras)
        extras = h.extras.get(info.block_hash, {})
        pol: list[str] = []
        if valid_round >= 0:
            pol = [frame.hex() for frame in h.votes_of(PREVOTE, valid_round).proof(info.block_hash)]
        frame = self.auth.seal(
            h.height, h.round, "proposal",
            {"block": info.block_hex, "vr": valid_round, "pol": pol, "x": extras},
        )
        h.blocks[info.block_hash] = info
        h.timing.first_seen.setdefault(info.block_hash, self._now)
        h.proposal.setdefault(h.round, Proposal(info.block_hash, valid_round))
        h.proposal_frames[info.block_hash] = frame
        h.validity.setdefault(info.block_hash, VALID)
        if own is None:
            # persisted before it leaves: after a restart we propose this block again, no other
            h.proposed[h.round] = Proposal(info.block_hash, valid_round)
            self._persist()
        self._emit(A.Broadcast(frame))
        self._log("debug", f"height {h.height} round {h.round}: proposed {info.block_hash}",
                  block=info.block_hash)

    # ------------------------------------------------------------------ node answers

    def _on_answer(self, ev: E.NodeFailed | E.ProposalBuilt | E.Validated | E.Signed | E.Submitted) -> None:
        """The node's or the signer's answer; one for another height than ours is stale."""
        if isinstance(ev, E.NodeFailed):
            if ev.what not in NODE_CALLS:
                raise ValueError(f"NodeFailed.what must be one of {sorted(NODE_CALLS)}, not {ev.what!r}")
            self._tally(Kind.NODE_FAILED, ev.what)
            if ev.what == "tip":
                self._querying_tip = self._tip_query_stale = False
                return
        h = self.h
        if h is None or ev.height != h.height:
            return
        match ev:
            case E.NodeFailed():
                self._on_node_failed(h, ev)
            case E.ProposalBuilt():
                self._on_built(h, ev)
            case E.Validated():
                self._on_validated(h, ev)
            case E.Signed():
                self._on_signed(h, ev)
            case E.Submitted():
                self._on_submitted(h, ev)

    def _on_built(self, h: HeightState, ev: E.ProposalBuilt) -> None:
        h.building = False
        if (ev.round != h.round or h.step != PROPOSE or not self._am_proposer(h.round)
                or h.round in h.proposed or self._waiting()):
            return
        try:
            info = describe(ev.block_hex)
        except DecodeError as exc:
            self._log("error", f"node's getnewblockhex gave an undecodable block: {exc}")
            self.timers[Timer.RETRY] = self._now + RETRY_DELAY
            return
        reason = self._structural_reason(info)
        if reason is not None:
            self._log("warning", f"node proposed a block we cannot use ({reason}); re-reading tip")
            self._query_tip()
            return
        self._propose(info, -1, dict(ev.extras))

    def _structural_reason(self, info: BlockInfo) -> str | None:
        h = self.h
        assert h is not None
        if info.height != h.height:
            return "bad-height"
        if info.parent != h.parent:
            return "bad-parent"
        if info.challenge != self.cfg.challenge:
            return "bad-challenge"
        return None

    def _on_validated(self, h: HeightState, ev: E.Validated) -> None:
        h.validating.discard(ev.block_hash)
        h.validity[ev.block_hash] = Validity(reason=ev.reason)
        h.validate_failures = 0
        h.timing.marks.setdefault("validated", self._now)
        if ev.reason is not None:
            self._tally(Kind.PROPOSAL_REJECTED, ev.reason)

    def _on_node_failed(self, h: HeightState, ev: E.NodeFailed) -> None:
        if ev.what == "build":
            h.building = False
            self.timers[Timer.RETRY] = self._now + RETRY_DELAY
        elif ev.what == "validate":
            # not a verdict on the block: ask again later, backing off while the node is unwell
            h.validating.clear()
            h.validate_failures += 1
            delay = min(RETRY_DELAY * 2 ** min(h.validate_failures - 1, 16), VALIDATE_RETRY_MAX)
            self.timers[Timer.VALIDATE_RETRY] = self._now + delay
        elif ev.what == "submit":
            # submitted again once the SUBMIT timer fires (see _submit_due), not at once
            h.signatures.submitted.clear()
            h.signatures.submit_at = self.timers[Timer.SUBMIT] = self._now + RETRY_DELAY

    def _on_signed(self, h: HeightState, ev: E.Signed) -> None:
        if ev.block_hash != h.decided:
            return
        h.signatures.requested = False
        info = h.blocks.get(ev.block_hash)
        if ev.der is None or info is None:
            self._tally(Kind.SIGN_FAILED)
            self._log("error", f"height {h.height}: signer failed: {ev.error}")
            self.timers[Timer.RETRY] = self._now + RETRY_DELAY
            return
        if not self.auth.verify_block_sig(self.cfg.me, info.digest, ev.der):
            self._tally(Kind.SIGN_INVALID)
            self._log("error", f"height {h.height}: signer returned a signature that does not verify; not sent")
            self.timers[Timer.RETRY] = self._now + RETRY_DELAY
            return
        h.signatures.verified.setdefault(ev.block_hash, {})[self.cfg.me] = ev.der
        if ev.extra_sigs:
            h.signatures.extras.setdefault(ev.block_hash, {})[self.cfg.me] = dict(ev.extra_sigs)
        h.timing.marks.setdefault("signed", self._now)
        payload: dict[str, Any] = {"hash": ev.block_hash, "sig": ev.der.hex()}
        if ev.extra_sigs:
            payload["x"] = ev.extra_sigs
        h.signatures.own_frame = self.auth.seal(h.height, h.round, "sig", payload)
        self._tally(Kind.SIGNATURES_MADE)
        self._emit(A.Broadcast(h.signatures.own_frame))

    def _on_submitted(self, h: HeightState, ev: E.Submitted) -> None:
        result = "accepted" if ev.result in (None, "duplicate") else ev.result
        if result == "accepted":
            self._landed(h, ev.height, ev.block_hash)
        else:
            self._emit(A.BlockSubmitted(ev.height, ev.block_hash, result))
            self._tally(Kind.SUBMIT_REJECTED, result)
            self._log("warning", f"height {h.height}: node refused block {ev.block_hash}: {result}",
                      block=ev.block_hash)
            self._query_tip()

    def _landed(self, h: HeightState, height: int, block_hash: str) -> None:
        """The node accepted a block of this height (ours, or one we completed and saw at its
        tip): report it, then start the next height."""
        self._emit(A.BlockSubmitted(height, block_hash, "accepted"))
        info = h.blocks.get(block_hash)
        seen = h.timing.first_seen.get(block_hash, h.timing.started_at)
        self.last_block = {
            "height": height,
            "hash": block_hash,
            "round": h.round,
            "proposer": self.cfg.names[self.proposer(h.height, h.round)],
            "signers": sorted(self.cfg.names[i] for i in h.signatures.verified.get(block_hash, {})),
            "latency": self._now - seen,
            "interval": h.timing.interval,
            "phases_ms": {
                k: round((t - seen) * 1000, 2) for k, t in sorted(h.timing.marks.items(), key=_SECOND)
            },
        }
        self.recent_blocks.append(self.last_block)
        self._tally(Kind.BLOCKS_SUBMITTED)
        self.tip = (height, block_hash)
        self._landed_state = h
        self._tip_query_stale = self._querying_tip
        if info is not None:
            self._start_height(height + 1, block_hash)

    # ------------------------------------------------------------------ peer messages

    def _on_received(self, data: bytes) -> bool:
        """Take a peer's frame; False if it was dropped before it was read (a repeat, or
        refused when opened)."""
        key = hash(data)
        if key in self._seen_frames:
            self._tally(Kind.DROPPED, "duplicate")
            return False
        h = self.h
        floor = h.height if h is not None else 0
        screened = getattr(self.auth, "open_screened", None)
        try:  # a frame below our height or settled is refused before its signature is checked
            env = self.auth.open(data, floor) if screened is None else screened(data, floor, self._settled)
        except DecodeError as exc:
            reason = str(exc)
            self._tally(Kind.DROPPED, reason)
            if reason in SETTLED:  # settled for good at this height: a repeat is a duplicate
                self._remember(key)
            return False
        # our own frames come back when peers gossip them (after a restart they are how we
        # learn what we proposed, voted and signed); they go through the same rules
        self._remember(key)
        if env.sender != self.cfg.me:
            self.peer_seen[env.sender] = self._now
        if h is None or env.height > h.height:
            if not self._buffer_future(env):
                self._seen_frames.discard(key)  # not kept: let a repeat in
            if h is not None and h.signatures.submit_at is not None:
                self._query_tip()  # a peer is past the block we completed: see it landed now
            elif h is not None and self._now + TIP_POLL_SOON < self.timers[Timer.TIP_POLL]:
                # someone is ahead of us: look at our node's tip soon
                self.timers[Timer.TIP_POLL] = self._now + TIP_POLL_SOON
            return True
        if env.height < h.height:
            self._tally(Kind.DROPPED, "stale")
            return True
        if not self._dispatch(env):
            self._seen_frames.discard(key)  # not kept for now: a later repeat may be
        return True

    def _remember(self, key: int) -> None:
        if len(self._seen_frames) >= SEEN_FRAMES:
            self._seen_frames.clear()
        self._seen_frames.add(key)

    def _settled(self, env: Envelope) -> str | None:
        """Why a peer's vote or SIG, judged from its header and payload before its signature
        is checked, can change nothing here (it is then dropped unread); None if it may.

        A vote for block v in round r <= ours, where M signed votes of its kind for v are
        held already and the sender's vote there is none or v: every rule reads M votes for v
        (already true), the senders or the nil votes (a vote for v adds a sender only where
        M already voted, and no nil vote), so none fires otherwise; not an equivocation, and
        not of a later round (the round skip). A precommit only once v is decided and we have
        signed it or it can be completed (until then the decision's precommits are its
        evidence, kept and gossiped).
        A SIG for a block M verified signatures of which are held, from a sender with no SIG
        waiting for another block: the block can be completed already. All stay so for the
        rest of the height.
        """
        h = self.h
        if h is None or env.sender == self.cfg.me or env.height != h.height:
            return None
        value = env.payload.get("hash")
        if type(value) is not str:
            return None
        m = self.cfg.threshold
        if env.kind == "sig":
            held = h.signatures
            if len(held.verified.get(value, ())) < m or any(env.sender in w for w in held.unverified.values()):
                return None
            return SETTLED_SIG
        votes = h.votes.get((env.kind, env.round))
        if (votes is None or env.round > h.round or votes.support(value) < m
                or votes.first.get(env.sender, value) != value):
            return None
        if env.kind == PRECOMMIT:
            sigs = h.signatures.verified.get(value, {})
            if value != h.decided or (len(sigs) < m and self.cfg.me not in sigs):
                return None  # until we signed the decision or it can be completed: evidence
        return SETTLED_VOTE

    def _dispatch(self, env: Envelope) -> bool:
        """Handle a frame of the current height; False if it was put aside for now."""
        h = self.h
        assert h is not None
        if env.sender != self.cfg.me and env.round > h.peer_round.get(env.sender, -1):
            h.peer_round[env.sender] = env.round
        try:
            if env.kind == "proposal":
                return self._on_proposal(env)
            if env.kind in (PREVOTE, PRECOMMIT):
                return self._on_vote(env)
            if env.kind == "sig":
                self._on_sig(env)
        except (KeyError, TypeError, ValueError, OverflowError, DecodeError) as exc:
            self._tally(Kind.DROPPED, "malformed")
            self._log("debug", f"malformed {env.kind} from {self.cfg.names[env.sender]}: {exc}",
                      peer=self.cfg.names[env.sender])
        return True

    def _on_proposal(self, env: Envelope) -> bool:
        """A proposal of this height: its proof of lock's prevotes are kept, its block learnt
        and sent for validation. False if it was put aside for now (gossip brings it again)."""
        h = self.h
        assert h is not None
        early = self._screen_proposal(h, env)
        if early is not None:
            return early
        p = env.payload
        vr = p.get("vr", -1)
        proposer = self.cfg.names[env.sender]
        try:
            info = describe(p["block"])
        except DecodeError:
            self._tally(Kind.PROPOSAL_REJECTED, "undecodable")
            self._emit(A.ProposalRejected(h.height, env.round, proposer, "", "undecodable"))
            return True
        first = env.round not in h.proposal
        if not first and h.proposal[env.round].block != info.block_hash:
            self._tally(Kind.EQUIVOCATION, "proposal")
            if info.block_hash not in h.blocks and not self._wanted(info.block_hash):
                # one proposal per (height, round); another block of that round is only
                # learnt once M members voted for it (then it may be needed to decide)
                self._tally(Kind.DROPPED, "second-proposal")
                return False
        self._take_pol(h, p.get("pol") or [], vr)
        extras = p.get("x") or {}
        if not isinstance(extras, dict):
            raise ValueError("proposal extras must be an object")
        if first:
            h.proposal[env.round] = Proposal(info.block_hash, vr)
        adopted = env.sender == self.cfg.me and self._adopt_own_proposal(env.round, info, vr)
        if info.block_hash in h.blocks:
            self._proposed_again(h, env, info, extras, first, adopted)
        else:
            self._learn_proposed_block(h, env, info, extras, adopted)
        return True

    def _screen_proposal(self, h: HeightState, env: Envelope) -> bool | None:
        """What to answer for a proposal dropped before its block is read; None if it is not."""
        if env.sender != self.proposer(h.height, env.round):
            self._tally(Kind.DROPPED, "not-proposer")
            return True
        if env.round > h.round + PROPOSAL_ROUND_WINDOW:
            # out of reach: each proposal costs a node call; it is gossiped again when it matters
            self._tally(Kind.DROPPED, "proposal-far-round")
            return False
        vr = env.payload.get("vr", -1)
        if type(vr) is not int:
            raise ValueError("proposal valid round must be an integer")
        if vr >= env.round or vr < -1:
            self._tally(Kind.DROPPED, "malformed")
            return True
        return None

    def _take_pol(self, h: HeightState, pol: Any, vr: int) -> None:
        """Keep the prevotes of a proposal's proof of lock (only those for its valid round)."""
        if not isinstance(pol, list):
            raise ValueError("proposal pol must be a list")
        if len(pol) > self.cfg.n:
            self._tally(Kind.DROPPED, "pol-too-long")
            pol = pol[: self.cfg.n]
        for raw in pol:
            try:
                vote = self.auth.open(bytes.fromhex(raw))
            except (DecodeError, ValueError, TypeError):
                self._tally(Kind.DROPPED, "bad-pol")
                continue
            if vote.kind == PREVOTE and vote.height == h.height and vote.round == vr:
                self._record_vote(vote)

    def _proposed_again(self, h: HeightState, env: Envelope, info: BlockInfo, extras: dict[str, Any],
                        first: bool, adopted: bool) -> None:
        """A proposal of a block already known here (re-proposed, or gossiped again)."""
        h.proposal_frames.setdefault(info.block_hash, env.raw)
        if adopted:
            self._persist()
        if (first and extras != h.extras.get(info.block_hash)
                and h.validity_of(info.block_hash).reason is not None):
            # the same block refused with other extras (e.g. a wrong reissuance): try these
            h.extras[info.block_hash] = extras
            h.proposal_frames[info.block_hash] = env.raw
            del h.validity[info.block_hash]
            self._validate(info)

    def _learn_proposed_block(self, h: HeightState, env: Envelope, info: BlockInfo,
                              extras: dict[str, Any], adopted: bool) -> None:
        """A proposal of a block new here: keep it, and ask whether it is valid."""
        proposer = self.cfg.names[env.sender]
        self._emit(A.ProposalReceived(h.height, env.round, proposer, info.block_hash))
        reason = self._structural_reason(info)
        h.blocks[info.block_hash] = info
        h.extras.setdefault(info.block_hash, extras)
        h.timing.first_seen.setdefault(info.block_hash, self._now)
        h.proposal_frames[info.block_hash] = env.raw
        if adopted:
            self._persist()  # our own proposal and its block, learnt back: kept from now on
        if reason is not None:
            h.validity[info.block_hash] = Validity(reason=reason)
            self._tally(Kind.PROPOSAL_REJECTED, reason)
            self._emit(A.ProposalRejected(h.height, env.round, proposer, info.block_hash, reason))
            return
        self._validate(info)

    def _wanted(self, block_hash: str) -> bool:
        """Whether M members voted for ``block_hash`` in some round (so it may be decided)."""
        h = self.h
        assert h is not None
        m = self.cfg.threshold
        return any(votes.support(block_hash) >= m for votes in h.votes.values())

    def _adopt_own_proposal(self, round: int, info: BlockInfo, vr: int) -> bool:
        """Our own proposal came back: remember it as sent, so that we never propose another.

        True if it was news (the caller persists it once the block is stored).
        """
        h = self.h
        assert h is not None
        own = h.proposed.get(round)
        if own is None:
            h.proposed[round] = Proposal(info.block_hash, vr)
            self._tally(Kind.OWN_PROPOSAL_LEARNT)
            return True
        if own.block != info.block_hash:
            self._tally(Kind.EQUIVOCATION, "own-proposal")
            self._log("critical", f"height {h.height} round {round}: a proposal of ours for "
                      f"{info.block_hash} came back; we recorded {own.block}")
        return False

    def _validate(self, info: BlockInfo) -> None:
        h = self.h
        assert h is not None
        if info.block_hash in h.validity or info.block_hash in h.validating:
            return
        h.validating.add(info.block_hash)
        self._emit(A.Validate(h.height, info.block_hash, info.block_hex,
                              h.extras.get(info.block_hash, {})))

    def _on_vote(self, env: Envelope) -> bool:
        h = self.h
        assert h is not None
        value = env.payload.get("hash")
        if value is not None and not isinstance(value, str):
            raise ValueError("vote hash must be a string or null")
        if env.round > h.round + VOTE_ROUND_WINDOW:
            # only the sender's round matters yet (round skip); gossip repeats the vote
            self._tally(Kind.DROPPED, "vote-far-round")
            return False
        if not self._record_vote(env):
            return False
        if env.sender == self.cfg.me:
            self._adopt_own_vote(env.round, env.kind, value, env.raw)
        return True

    def _adopt_own_vote(self, round: int, kind: str, value: str | None, frame: bytes) -> None:
        """A vote of ours came back (gossiped by a peer): if we have no record of it (our
        state was lost), take it as sent, so that we never send another in that round."""
        h = self.h
        assert h is not None
        key = (round, kind)
        if key in h.sent:
            if h.sent[key] != value:
                self._tally(Kind.EQUIVOCATION, f"own-{kind}")
                self._log("critical", f"height {h.height} round {round}: a {kind} of ours for "
                          f"{value} came back; we recorded {h.sent[key]}")
            return
        self._tally(Kind.OWN_VOTE_LEARNT)
        h.sent[key] = value
        h.sent_frames[key] = frame
        if kind == PRECOMMIT and value is not None and (h.locked is None or h.locked.round < round):
            h.locked = Lock(value, round)  # a precommit for a block is sent only with that lock
        if round > h.round and h.decided is None and not self._waiting():
            self._start_round(round)  # we were there already
        elif round == h.round:
            if kind == PRECOMMIT:
                h.step = PRECOMMIT
            elif h.step == PROPOSE:
                h.step = PREVOTE
        self._persist()

    def _record_vote(self, env: Envelope) -> bool:
        """Keep a signed vote (as evidence too); False if it was put aside for now."""
        h = self.h
        assert h is not None
        value = env.payload.get("hash")
        votes = h.votes.setdefault((env.kind, env.round), VoteSet())
        if (env.sender not in votes.frames.get(value, {}) and value not in h.blocks
                and votes.values_of(env.sender) >= VOTE_VALUES_PER_SENDER):
            # an equivocator's third value, for no block we know: kept once we know it
            # (an equivocating vote may be part of the M that decided a block)
            self._tally(Kind.DROPPED, "vote-values")
            return False
        if votes.add(env.sender, value, env.raw):
            self._tally(Kind.EQUIVOCATION, env.kind)
        return True

    def _on_sig(self, env: Envelope) -> None:
        h = self.h
        assert h is not None
        block_hash = env.payload["hash"]
        der = bytes.fromhex(env.payload["sig"])
        if not isinstance(block_hash, str):
            raise ValueError("sig hash must be a string")
        if env.sender in h.signatures.verified.get(block_hash, {}):
            return
        # at most one unverified SIG per sender, for a block we do not know yet: the newest
        for other in list(h.signatures.unverified):
            if other != block_hash and env.sender in h.signatures.unverified[other]:
                self._tally(Kind.DROPPED, "sig-replaced")
                del h.signatures.unverified[other][env.sender]
                h.signatures.pending_extras.get(other, {}).pop(env.sender, None)
                if not h.signatures.unverified[other]:
                    del h.signatures.unverified[other]
                    h.signatures.pending_extras.pop(other, None)
        extra = env.payload.get("x")
        if isinstance(extra, dict) and extra:
            h.signatures.pending_extras.setdefault(block_hash, {})[env.sender] = extra
        h.signatures.unverified.setdefault(block_hash, {})[env.sender] = der
        self._verify_sigs(block_hash, env.raw if env.sender == self.cfg.me else None)

    def _verify_sigs(self, block_hash: str, own_frame: bytes | None = None) -> None:
        h = self.h
        assert h is not None
        info = h.blocks.get(block_hash)
        pending = h.signatures.unverified.get(block_hash)
        if info is None or not pending:
            return
        for member, der in list(pending.items()):
            del pending[member]
            ok = self.auth.verify_block_sig(member, info.digest, der)
            if member != self.cfg.me:
                self._emit(A.SignatureReceived(h.height, block_hash, self.cfg.names[member], ok))
            if ok:
                if member == self.cfg.me:
                    self._adopt_own_sig(block_hash, own_frame)
                else:
                    self._tally(Kind.SIGNATURES_RECEIVED)
                h.signatures.verified.setdefault(block_hash, {})[member] = der
                extra = h.signatures.pending_extras.get(block_hash, {}).pop(member, None)
                if extra is not None:
                    h.signatures.extras.setdefault(block_hash, {})[member] = extra
            else:
                self._tally(Kind.SIGNATURES_REJECTED, "invalid")
        if not pending:
            h.signatures.unverified.pop(block_hash, None)
            h.signatures.pending_extras.pop(block_hash, None)

    def _adopt_own_sig(self, block_hash: str, frame: bytes | None) -> None:
        """Our own signature came back: we signed this block, so we sign nothing else here."""
        h = self.h
        assert h is not None
        if self.sign_state.height < h.height:
            self._tally(Kind.OWN_SIG_LEARNT)
            self.sign_state = SignState(h.height, block_hash, h.parent)
            self._persist()
        elif self.sign_state.height == h.height and self.sign_state.block_hash != block_hash:
            self._tally(Kind.EQUIVOCATION, "own-sig")
            self._log("critical", f"height {h.height}: a signature of ours for {block_hash} came "
                      f"back; our sign-state holds {self.sign_state.block_hash}")
            return
        if h.signatures.own_frame is None and frame is not None:
            h.signatures.own_frame = frame

    # ------------------------------------------------------------------ voting

    def _send_vote(self, kind: str, value: str | None, already_recorded: bool = False) -> None:
        h = self.h
        assert h is not None
        key = (h.round, kind)
        if key in h.sent and not already_recorded:
            return
        h.timing.marks.setdefault(kind, self._now)
        h.sent[key] = value
        frame = self.auth.seal(h.height, h.round, kind, {"hash": value})
        h.sent_frames[key] = frame
        h.votes.setdefault((kind, h.round), VoteSet()).add(self.cfg.me, value, frame)
        if not already_recorded:
            self._persist()
        self._emit(A.Broadcast(frame))

    def _support(self, kind: str, round: int, value: str | None) -> int:
        """How many members sent a signed ``kind`` vote for ``value`` in ``round``."""
        assert self.h is not None
        return self.h.votes_of(kind, round).support(value)

    # ------------------------------------------------------------------ the rules

    def _progress(self) -> None:
        """Apply the protocol's rules (:attr:`RULES`, those that can fire in the state a pass
        finds: :attr:`RULES_BY_STATE`) until none fires (each pass fires at most one)."""
        h = self.h
        self._at_rest = True
        if h is None or self._waiting():
            return
        by_state = self.RULES_BY_STATE
        for _ in range(MAX_RULE_PASSES):
            for rule in by_state[(h.decided is not None, h.step)]:
                if rule(self, h):
                    break
            else:
                return
        self._at_rest = False
        self._log("warning", f"height {h.height} round {h.round}: rules still firing after "
                  f"{MAX_RULE_PASSES} passes; the rest waits for the next event")

    def _rules_at_rest(self) -> bool:
        """Whether the rules would fire nothing now if nothing but time changed since they
        last ran: they then ran until none fired, and the rules that read the clock (a
        signature retry, :meth:`_rule_sign`; a submission after its grace, :meth:`_rule_submit`)
        are not due."""
        due = (self.timers.get(Timer.RETRY), self.timers.get(Timer.SUBMIT))
        return self._at_rest and all(at is None or self._now < at for at in due)

    def _rule_skip_round(self, h: HeightState) -> bool:
        """Algorithm 1, line 55: f+1 messages of a later round r' make us start r'.

        With quorum M the "f+1" is N-M+1 members, so at least one honest member is there."""
        k = self.cfg.n - self.cfg.threshold + 1
        if h.decided is not None or len(h.peer_round) < k:
            return False
        r = h.round
        if sum(1 for pr in h.peer_round.values() if pr > r) < k:  # the common case, unsorted
            return False
        # k peers are past our round: the k-th highest round is one of theirs
        self._start_round(sorted(h.peer_round.values(), reverse=True)[k - 1])
        return True

    def _rule_fetch_validity(self, h: HeightState) -> bool:
        """Algorithm 1's valid(v): ask the node and the hooks about every block that is
        well-formed and has no verdict yet (not while backing off after a failed ask)."""
        if Timer.VALIDATE_RETRY in self.timers:
            return False
        for info in h.blocks.values():
            if (
                info.block_hash not in h.validity
                and info.block_hash not in h.validating
                and self._structural_reason(info) is None
            ):
                self._validate(info)
        return False

    def _rule_prevote_fresh_proposal(self, h: HeightState) -> bool:
        """Algorithm 1, lines 22-27: prevote a fresh proposal (valid round -1) if it is valid
        and we are not locked or locked on it; otherwise prevote nil."""
        r = h.round
        if h.step != PROPOSE or r not in h.proposal:
            return False
        v, vr = h.proposal[r]
        if vr != -1:
            return False
        free = h.locked is None or h.locked.block == v
        return self._prevote_proposal(h, v, free)

    def _rule_prevote_reproposal(self, h: HeightState) -> bool:
        """Algorithm 1, lines 28-33: a re-proposal with valid round vr < r and M prevotes for
        it in vr: prevote it if it is valid and our lock is no later than vr or on it."""
        r, m = h.round, self.cfg.threshold
        if h.step != PROPOSE or r not in h.proposal:
            return False
        v, vr = h.proposal[r]
        if vr == -1 or not (vr < r and self._support(PREVOTE, vr, v) >= m):
            return False
        free = h.locked is None or h.locked.round <= vr or h.locked.block == v
        return self._prevote_proposal(h, v, free)

    def _prevote_proposal(self, h: HeightState, v: str, free: bool) -> bool:
        """The prevote of lines 22-33, once the proposal's verdict is in; step becomes prevote."""
        validity = h.validity_of(v)
        if validity.pending:
            return False
        ok = validity.valid
        proposer = self.cfg.names[self.proposer(h.height, h.round)]
        if ok and free:
            self._emit(A.ProposalAccepted(h.height, h.round, proposer, v))
        elif validity.reason is not None:
            self._emit(A.ProposalRejected(h.height, h.round, proposer, v, validity.reason))
        h.step = PREVOTE
        self._send_vote(PREVOTE, v if ok and free else NIL)
        return True

    def _rule_arm_prevote_timeout(self, h: HeightState) -> bool:
        """Algorithm 1, lines 34-35: M prevotes of any value in our round, while at the
        prevote step: start timeoutPrevote (once)."""
        if (h.step == PREVOTE and Timer.PREVOTE not in self.timers
                and h.votes_of(PREVOTE, h.round).senders() >= self.cfg.threshold):
            self.timers[Timer.PREVOTE] = self._now + self._timeout(self.cfg.prevote_timeout, h.round)
        return False

    def _rule_polka(self, h: HeightState) -> bool:
        """Algorithm 1, lines 36-43: M prevotes for a known valid block in our round, the
        first time, at the prevote step or later: it becomes our valid block; at the prevote
        step we also lock on it and precommit it."""
        r, m = h.round, self.cfg.threshold
        if r in h.polka_seen or h.step not in (PREVOTE, PRECOMMIT):
            return False
        for v in h.votes_of(PREVOTE, r).frames:
            if v is None:
                continue
            if self._support(PREVOTE, r, v) >= m and h.validity_of(v).valid and v in h.blocks:
                h.polka_seen.add(r)
                h.valid = Valid(v, r)
                if h.step == PREVOTE:
                    h.locked = Lock(v, r)
                    h.step = PRECOMMIT
                    self._send_vote(PRECOMMIT, v)
                else:
                    self._persist()
                return True
        return False

    def _rule_late_polka(self, h: HeightState) -> bool:
        """Not in Algorithm 1 (which sees a polka only in its own round): a polka of an
        earlier round learnt late (e.g. by gossip) and later than our valid block's becomes
        our valid block, so that we re-propose it with its proof of lock."""
        m = self.cfg.threshold
        best = h.valid.round if h.valid else -1
        if best >= h.round:
            return False
        late = [rr for (kind, rr), votes in h.votes.items()
                if kind == PREVOTE and best < rr <= h.round and votes.senders() >= m]
        for rr in sorted(late, reverse=True):
            found = next((v for v in h.votes_of(PREVOTE, rr).frames
                          if v is not None and self._support(PREVOTE, rr, v) >= m
                          and v in h.blocks and h.validity_of(v).valid), None)
            if found is not None:
                h.valid = Valid(found, rr)
                self._persist()
                return True
        return False

    def _rule_nil_polka(self, h: HeightState) -> bool:
        """Algorithm 1, lines 44-46: M prevotes for nil in our round, at the prevote step:
        precommit nil."""
        if h.step == PREVOTE and h.votes_of(PREVOTE, h.round).first_votes(NIL) >= self.cfg.threshold:
            h.step = PRECOMMIT
            self._send_vote(PRECOMMIT, NIL)
            return True
        return False

    def _rule_arm_precommit_timeout(self, h: HeightState) -> bool:
        """Algorithm 1, lines 47-48: M precommits of any value in our round: start
        timeoutPrecommit (once)."""
        if (Timer.PRECOMMIT not in self.timers
                and h.votes_of(PRECOMMIT, h.round).senders() >= self.cfg.threshold):
            self.timers[Timer.PRECOMMIT] = self._now + self._timeout(self.cfg.precommit_timeout, h.round)
        return False

    def _rule_nil_precommits(self, h: HeightState) -> bool:
        """Not in Algorithm 1: more than N - M nil precommits in our round mean no block can
        gather M there, so the next round starts now rather than at timeoutPrecommit (a round
        change is always safe)."""
        if h.decided is not None:
            return False
        votes, most = h.votes_of(PRECOMMIT, h.round), self.cfg.n - self.cfg.threshold
        if votes.senders() > most and votes.first_votes(NIL) > most:
            self._tally(Kind.ROUND_ENDED, "nil-precommits")
            self._start_round(h.round + 1)
            return True
        return False

    def _rule_decide(self, h: HeightState) -> bool:
        """Algorithm 1, lines 49-54: M precommits for a known valid block in any round decide
        it. The sign-state naming it is committed in the same flush as the decision."""
        m = self.cfg.threshold
        if h.decided is not None:
            return False
        for (kind, rr), votes in h.votes.items():
            if kind != PRECOMMIT:
                continue
            for v in votes.frames:
                if v is None:
                    continue
                if self._support(PRECOMMIT, rr, v) >= m and v in h.blocks:
                    if not h.validity_of(v).valid:
                        continue
                    h.decided = v
                    h.timing.marks.setdefault("decided", self._now)
                    if self.sign_state.allows(h.height, v):
                        self.sign_state = SignState(h.height, v, h.parent)
                    self._log("debug", f"height {h.height}: decided {v} in round {rr}", block=v)
                    self._persist()
                    return True
        return False

    def _rule_sign(self, h: HeightState) -> bool:
        """ROUNDS.md step 4: sign the decided block, once the sign-state naming it is on disk;
        refuse (the last line of defence) if the sign-state names another block here."""
        retry_at = self.timers.get(Timer.RETRY)
        if (h.decided is None or h.signatures.requested or self.cfg.me in h.signatures.verified.get(h.decided, ())
                or (retry_at is not None and self._now < retry_at)):
            return False
        info = h.blocks[h.decided]
        if not self.sign_state.allows(h.height, h.decided):
            if self.counters[Tally(Kind.SIGN_REFUSED)] == 0:
                self._log("critical", f"height {h.height}: refusing to sign {h.decided}: "
                          f"already signed {self.sign_state.block_hash} at {self.sign_state.height}",
                          block=h.decided)
            self._tally(Kind.SIGN_REFUSED)
            self.timers[Timer.RETRY] = self._now + SIGN_REFUSED_RETRY
            return True
        if (self.sign_state.height, self.sign_state.block_hash) != (h.height, h.decided):
            self.sign_state = SignState(h.height, h.decided, h.parent)
            self._persist()
        h.signatures.requested = True
        self.timers.pop(Timer.RETRY, None)
        self._emit(A.Sign(h.height, h.decided, info.digest, info.preimage, info.block_hex,
                          h.extras.get(h.decided, {})))
        return True

    def _rule_submit(self, h: HeightState) -> bool:
        """ROUNDS.md step 5: M valid block signatures: combine them in key order and submit
        (at once if this member is a submitter, else only after SUBMIT_GRACE)."""
        m = self.cfg.threshold
        for block_hash, sigs in h.signatures.verified.items():
            if len(sigs) >= m and block_hash not in h.signatures.submitted and block_hash in h.blocks:
                if not self._submit_due(h):
                    return False
                order = sorted(sigs)[:m]
                block_hex = complete(h.blocks[block_hash].block_hex, [sigs[i] for i in order])
                h.signatures.submitted[block_hash] = self._now
                h.timing.marks.setdefault("submit", self._now)
                extra_sigs = {
                    self.cfg.names[i]: x for i, x in h.signatures.extras.get(block_hash, {}).items()
                }
                self._emit(A.Submit(h.height, block_hash, block_hex,
                                    h.extras.get(block_hash, {}), extra_sigs))
                return True
        return False

    def _submits_at_once(self, h: HeightState) -> bool:
        """Whether this member submits a block it completed as soon as it has M SIGs: the
        current round's proposer, and the next height's first proposer (which needs the new
        tip first, to build on it). The others wait SUBMIT_GRACE for the block to land."""
        me = self.cfg.me
        return me in (self.proposer(h.height, h.round), self.proposer(h.height + 1, 0))

    def _submit_due(self, h: HeightState) -> bool:
        """Whether a completed block may be submitted now (arms the SUBMIT timer if not)."""
        if h.signatures.submit_at is None:
            h.signatures.submit_at = self._now if self._submits_at_once(h) else self._now + SUBMIT_GRACE
        if self._now >= h.signatures.submit_at:
            return True
        self.timers[Timer.SUBMIT] = h.signatures.submit_at
        return False

    def _rule_verify_waiting_sigs(self, h: HeightState) -> bool:
        """Block signatures that arrived before their block: verify them now it is here."""
        if not h.signatures.unverified:
            return False
        for block_hash in list(h.signatures.unverified):
            if h.signatures.unverified[block_hash] and block_hash in h.blocks:
                self._verify_sigs(block_hash)
                return True
        return False

    #: The protocol's rules in the order they are tried; each says whether it fired. A rule
    #: that only arms a timer or asks for a verdict says False: the next one is tried in the
    #: same pass. (One tuple for the class: a pass builds nothing.)
    RULES: ClassVar[tuple[Callable[[Machine, HeightState], bool], ...]] = (
        _rule_skip_round,
        _rule_fetch_validity,
        _rule_prevote_fresh_proposal,
        _rule_prevote_reproposal,
        _rule_arm_prevote_timeout,
        _rule_polka,
        _rule_late_polka,
        _rule_nil_polka,
        _rule_arm_precommit_timeout,
        _rule_nil_precommits,
        _rule_decide,
        _rule_sign,
        _rule_submit,
        _rule_verify_waiting_sigs,
    )
    #: The rules a pass tries, by (decided, step): :attr:`RULES` without those whose own
    #: first test rules them out there (only undecided, only decided, only at some steps). A
    #: rule that says False changes neither, so a pass reads them once.
    RULES_BY_STATE: ClassVar[dict[tuple[bool, str], tuple[Callable[[Machine, HeightState], bool], ...]]] = (
        _rules_by_state(
            RULES,
            undecided_only={_rule_skip_round, _rule_nil_precommits, _rule_decide},
            decided_only={_rule_sign},
            at_steps={_rule_prevote_fresh_proposal: {PROPOSE}, _rule_prevote_reproposal: {PROPOSE},
                      _rule_arm_prevote_timeout: {PREVOTE}, _rule_polka: {PREVOTE, PRECOMMIT},
                      _rule_nil_polka: {PREVOTE}},
        )
    )

    # ------------------------------------------------------------------ time

    def _armed(self) -> dict[Timer, float]:
        """The timers that count now: what :meth:`next_deadline` waits for and a tick fires."""
        return {timer: at for timer, at in self.timers.items() if self._counts(timer)}

    def _counts(self, timer: Timer) -> bool:
        """Whether ``timer`` matters in the current state (the one definition of it)."""
        h = self.h
        if timer is Timer.TIP_POLL:
            return True
        if h is None or self._waiting():
            return False
        undecided = h.decided is None
        match timer:
            case Timer.RETRY:
                return not h.signatures.requested
            case Timer.READY:  # a failed build waits for Timer.RETRY instead
                return (h.round == 0 and h.step == PROPOSE and not h.building and h.valid is None
                        and 0 not in h.proposal and self._am_proposer(0)
                        and not self._build_waits())
            case Timer.PROPOSE:
                return undecided and h.step == PROPOSE
            case Timer.PREVOTE:
                return undecided and h.step == PREVOTE
            case Timer.PRECOMMIT:
                return undecided
            case Timer.ROUND:
                # the last resort waits for a step timeout already running: a member that
                # left the round before it, the only peer still there would wait for in vain
                return (undecided and Timer.PRECOMMIT not in self.timers
                        and not (h.step == PREVOTE and Timer.PREVOTE in self.timers))
        return True  # VALIDATE_RETRY, GOSSIP, SUBMIT

    def _on_tick(self) -> None:
        """Fire the timers that are due, in :class:`Timer` order, each judged as it comes."""
        for timer in Timer:
            at = self.timers.get(timer)
            if at is not None and self._now >= at and self._counts(timer):
                self._fire(timer)
        h = self.h
        if h is None or self._waiting():
            return
        for block_hash, at in list(h.signatures.submitted.items()):
            if self._now - at > max(RESUBMIT_AFTER, 4 * self.cfg.tip_poll_interval):
                del h.signatures.submitted[block_hash]  # resubmit if the tip has not moved

    def _fire(self, timer: Timer) -> None:
        h = self.h
        if timer is Timer.TIP_POLL:
            self._query_tip()
            return
        assert h is not None
        if timer not in (Timer.READY, Timer.ROUND, Timer.GOSSIP):
            del self.timers[timer]
        match timer:
            case Timer.RETRY:
                if h.step == PROPOSE and self._am_proposer(h.round) and h.round not in h.proposal:
                    self._build()
            case Timer.VALIDATE_RETRY:
                for block_hash in list(h.blocks):
                    if h.validity_of(block_hash).pending and block_hash not in h.validating:
                        self._validate(h.blocks[block_hash])
            case Timer.READY:
                self._build()
            case Timer.PROPOSE:  # Algorithm 1, lines 57-60: OnTimeoutPropose
                self._timed_out(PROPOSE)
                h.step = PREVOTE
                self._send_vote(PREVOTE, NIL)
            case Timer.PREVOTE:  # lines 61-64: OnTimeoutPrevote
                self._timed_out(PREVOTE)
                h.step = PRECOMMIT
                self._send_vote(PRECOMMIT, NIL)
            case Timer.PRECOMMIT | Timer.ROUND:  # lines 65-67: OnTimeoutPrecommit
                self._timed_out(PRECOMMIT if timer is Timer.PRECOMMIT else "round")
                self._start_round(h.round + 1)
            case Timer.GOSSIP:
                self._gossip()
                self.timers[Timer.GOSSIP] = self._now + self.cfg.gossip_interval

    def _timed_out(self, step: str) -> None:
        h = self.h
        assert h is not None
        self._tally(Kind.TIMEOUT, str(step))
        self._emit(A.RoundTimedOut(h.height, h.round, str(step)))

    def _gossip(self) -> None:
        """Re-send what peers may have missed: our recent votes, blocks that matter, the decision."""
        h = self.h
        assert h is not None
        frames: list[bytes] = []
        for (rnd, _kind), frame in h.sent_frames.items():
            if rnd >= h.round - 1:
                frames.append(frame)
        wanted = {h.proposal[h.round].block} if h.round in h.proposal else set()
        for x in (h.locked, h.valid):
            if x:
                wanted.add(x.block)
        if h.decided:
            wanted.add(h.decided)
        for block_hash in wanted:
            proposal_frame = h.proposal_frames.get(block_hash)
            if proposal_frame is not None:
                frames.append(proposal_frame)
        if h.valid:
            frames.extend(h.votes_of(PREVOTE, h.valid.round).proof(h.valid.block))
        if h.decided:
            for (kind, _rnd), votes in h.votes.items():
                if kind == PRECOMMIT:
                    frames.extend(votes.proof(h.decided))
        if h.signatures.own_frame is not None:
            frames.append(h.signatures.own_frame)
        for frame in frames:
            self._emit(A.Broadcast(frame))
