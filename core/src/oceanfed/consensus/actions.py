"""Actions the state machine asks the driver to perform, in order."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar


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
class Observation:
    """Something observers are told (a pluggy hook call); the protocol never needs it done.

    ``hook`` names the hook (after the ``oceanfed_`` prefix); the fields are its keyword
    arguments, as :meth:`kwargs` gives them."""

    hook: ClassVar[str]

    def kwargs(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class ProposalReceived(Observation):
    """A proposal of a block new here arrived from the round's proposer."""

    hook: ClassVar[str] = "proposal_received"
    height: int
    round: int
    proposer: str
    block_hash: str


@dataclass(frozen=True)
class ProposalAccepted(Observation):
    """We prevote the round's proposal."""

    hook: ClassVar[str] = "proposal_accepted"
    height: int
    round: int
    proposer: str
    block_hash: str


@dataclass(frozen=True)
class ProposalRejected(Observation):
    """The round's proposal is refused (``block_hash`` is empty for an undecodable block)."""

    hook: ClassVar[str] = "proposal_rejected"
    height: int
    round: int
    proposer: str
    block_hash: str
    reason: str


@dataclass(frozen=True)
class SignatureReceived(Observation):
    """A peer's block signature was checked."""

    hook: ClassVar[str] = "signature_received"
    height: int
    block_hash: str
    member: str
    valid: bool


@dataclass(frozen=True)
class BlockSubmitted(Observation):
    """The node answered a submitted block: ``accepted`` or its reason for refusing it."""

    hook: ClassVar[str] = "block_submitted"
    height: int
    block_hash: str
    result: str


@dataclass(frozen=True)
class RoundTimedOut(Observation):
    """A step's timeout (``propose``, ``prevote``, ``precommit``) or the round's fired."""

    hook: ClassVar[str] = "round_timed_out"
    height: int
    round: int
    step: str


@dataclass(frozen=True)
class Log:
    level: str
    message: str
    #: structured fields for JSON logs (``peer``, ``block``…); height and round are added
    fields: dict[str, Any] = field(default_factory=dict)


Action = (Persist | Broadcast | QueryTip | BuildProposal | Validate | Sign | Submit | Log
          | ProposalReceived | ProposalAccepted | ProposalRejected | SignatureReceived
          | BlockSubmitted | RoundTimedOut)
