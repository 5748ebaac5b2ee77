"""What the demo records about each block, and the summary it prints."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field


@dataclass
class BlockRecord:
    height: int
    block_hash: str
    proposer: str
    round: int
    signers: list[str]
    latency: float
    txs: int = 0
    reissuances: int = 0
    catch_up: bool = False


@dataclass
class DemoStats:
    blocks: list[BlockRecord] = field(default_factory=list)
    kills: int = 0
    restarts: int = 0

    def add(self, record: BlockRecord) -> None:
        self.blocks.append(record)

    @property
    def failovers(self) -> int:
        """Blocks decided after round 0: a proposer was down or too slow."""
        return sum(1 for b in self.blocks if b.round > 0)

    def summary(self) -> dict[str, float | int]:
        lat = sorted(b.latency for b in self.blocks) or [0.0]
        p99 = lat[min(len(lat) - 1, int(round(0.99 * (len(lat) - 1))))]
        return {
            "blocks": len(self.blocks),
            "mean_latency_ms": round(statistics.fmean(lat) * 1000, 1),
            "p99_latency_ms": round(p99 * 1000, 1),
            "failovers": self.failovers,
            "catch_up_blocks": sum(1 for b in self.blocks if b.catch_up),
            "transactions": sum(b.txs for b in self.blocks),
            "tx_blocks": sum(1 for b in self.blocks if b.txs),
            "reissuances": sum(b.reissuances for b in self.blocks),
            "member_kills": self.kills,
        }
