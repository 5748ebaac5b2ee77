"""Events fed into the state machine by the driver (or the simulator)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Tick:
    """Time passed; the machine checks its deadlines."""


@dataclass(frozen=True)
class Received:
    """Raw bytes from a peer, not yet authenticated."""

    data: bytes


@dataclass(frozen=True)
class NodeTip:
    """Our node's best block: height, hash (RPC hex), and the chain time of block 1 (as a
    reading of the machine's clock)."""

    height: int
    block_hash: str
    anchor_time: float | None = None


@dataclass(frozen=True)
class NodeFailed:
    """A node call failed (unreachable, timeout, error). ``what`` names the action."""

    what: str
    height: int
    message: str


@dataclass(frozen=True)
class ProposalBuilt:
    """``getnewblockhex`` answered for (height, round)."""

    height: int
    round: int
    block_hex: str
    #: what plugins attach to the proposal (``oceanfed_proposal_extras`` hook)
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Validated:
    """The node's ``testproposedblock`` and the ``oceanfed_validate_proposal`` hooks have answered."""

    height: int
    block_hash: str
    reason: str | None  # None = valid


@dataclass(frozen=True)
class Signed:
    """The signer answered: a DER signature, or None with an error message."""

    height: int
    block_hash: str
    der: bytes | None
    error: str | None = None
    #: this member's signatures over the proposal's extras (``sign_extras`` hook)
    extra_sigs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Submitted:
    """``submitblock`` answered: ``None`` (accepted) or the node's result string."""

    height: int
    block_hash: str
    result: str | None


Event = Tick | Received | NodeTip | NodeFailed | ProposalBuilt | Validated | Signed | Submitted
