"""Actions the state machine asks the driver to perform, in order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Persist:
    """Flush this durable state to disk before performing any later action."""

    record: dict[str, Any]


@dataclass(frozen=True)
class Broadcast:
    """Send a sealed frame to every other member."""

    data: bytes


@dataclass(frozen=True)
class QueryTip:
    """Ask the node for its tip; answer with NodeTip or NodeFailed."""


@dataclass(frozen=True)
class BuildProposal:
    """Ask the node for ``getnewblockhex``; answer with ProposalBuilt or NodeFailed."""

    height: int
    round: int


@dataclass(frozen=True)
class Validate:
    """Run ``testproposedblock`` and the veto hooks; answer with Validated."""

    height: int
    block_hash: str
    block_hex: str
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Sign:
    """Ask the signer to sign a block header; answer with Signed."""

    height: int
    block_hash: str
    digest: bytes
    preimage: bytes
    block_hex: str
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Submit:
    """Submit a completed block; answer with Submitted or NodeFailed.

    ``extras`` and ``extra_sigs`` (member name → its extra signatures) go to the
    ``block_complete`` hook.
    """

    height: int
    block_hash: str
    block_hex: str
    extras: dict[str, Any] = field(default_factory=dict)
    extra_sigs: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Notify:
    """Call a pluggy hook with these keyword arguments (observers only)."""

    hook: str
    kwargs: dict[str, Any]


@dataclass(frozen=True)
class Log:
    level: str
    message: str
    #: structured fields for JSON logs (``peer``, ``block``…); height and round are added
    fields: dict[str, Any] = field(default_factory=dict)


Action = Persist | Broadcast | QueryTip | BuildProposal | Validate | Sign | Submit | Notify | Log
