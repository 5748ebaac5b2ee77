"""What the consensus machine counts, keyed by typed reasons (exported by ``oceanfed.metrics``)."""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple


class Kind(str, Enum):
    """What is counted. The kinds counted with a reason are one labelled metric each."""

    BLOCKS_SUBMITTED = "blocks_submitted"
    CATCH_UP_HEIGHTS = "catch_up_heights"
    DROPPED = "dropped"  # peer messages dropped, by reason
    EQUIVOCATION = "equivocation"  # conflicting messages seen, by kind
    HEIGHTS_WAITED = "heights_waited"
    NODE_FAILED = "node_failed"  # node calls that failed, by purpose
    OWN_PROPOSAL_LEARNT = "own_proposal_learnt"
    OWN_SIG_LEARNT = "own_sig_learnt"
    OWN_VOTE_LEARNT = "own_vote_learnt"
    PROPOSAL_REJECTED = "proposal_rejected"  # by reason
    PROPOSAL_WITHHELD = "proposal_withheld"  # by reason
    ROUND_ENDED = "round_ended"  # rounds ended early, by reason
    SIGN_FAILED = "sign_failed"
    SIGN_INVALID = "sign_invalid"
    SIGN_REFUSED = "sign_refused"
    SIGNATURES_MADE = "signatures_made"
    SIGNATURES_RECEIVED = "signatures_received"
    SIGNATURES_REJECTED = "signatures_rejected"  # by reason
    SUBMIT_REJECTED = "submit_rejected"  # by the node's reason
    TIMEOUT = "timeout"  # by step (or "round")


class Tally(NamedTuple):
    """One counter's key: what is counted, and why (empty for kinds without a reason).

    ``str()`` gives the ``kind:reason`` form ``oceanfed status`` shows. A named tuple: made
    and hashed in C, as every dropped frame counts one."""

    kind: Kind
    reason: str = ""

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.reason}" if self.reason else self.kind.value
