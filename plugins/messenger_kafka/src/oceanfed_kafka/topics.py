"""Topic layout: which topic carries which message kind, and creating missing topics.

Two topics per chain: ``<prefix>.<chain>.proposals`` (PROPOSAL, which carries a whole
block) and ``<prefix>.<chain>.votes`` (PREVOTE, PRECOMMIT and SIG, each a few hundred
bytes). See the plugin README for why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kafka import KafkaAdminClient
from kafka import errors as kerr

PROPOSALS = "proposals"
VOTES = "votes"


def _clean(part: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", part)


@dataclass(frozen=True)
class Topics:
    """The two topic names of one federation."""

    proposals: str
    votes: str

    @classmethod
    def for_chain(cls, prefix: str, chain: str) -> Topics:
        base = f"{prefix}.{_clean(chain)}"
        return cls(f"{base}.{PROPOSALS}", f"{base}.{VOTES}")

    def for_kind(self, kind: str) -> str:
        return self.proposals if kind == "proposal" else self.votes

    @property
    def names(self) -> tuple[str, str]:
        return (self.proposals, self.votes)


def missing_topics(admin: KafkaAdminClient, topics: Topics) -> list[str]:
    present = set(admin.list_topics())
    return [t for t in topics.names if t not in present]


def ensure_topics(
    admin: KafkaAdminClient, topics: Topics, partitions: int, replication_factor: int
) -> list[str]:
    """Create whichever of ``topics`` are missing; return the names created by us.

    Another member creating the same topic at the same moment is not an error.
    """
    missing = missing_topics(admin, topics)
    if not missing:
        return []
    spec: dict[str, Any] = {
        name: {"num_partitions": partitions, "replication_factor": replication_factor}
        for name in missing
    }
    result = admin.create_topics(spec, raise_errors=False)
    created = []
    for item in result.get("topics", []):
        error = kerr.for_code(item.get("error_code", 0))
        if error is kerr.NoError:
            created.append(item["name"])
        elif error is not kerr.TopicAlreadyExistsError:
            raise error(f"creating topic {item['name']}: {item.get('error_message') or ''}".strip())
    return created
