"""The demo's terminal view: a live ``rich`` table on a TTY, plain lines otherwise."""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

from oceanfed_devnet.demo.stats import BlockRecord, DemoStats


def rich_missing() -> bool:
    """True when ``rich`` (the ``demo`` extra) is not installed: the demo then prints plain lines."""
    return importlib.util.find_spec("rich") is None


class PlainView:
    """One line per block and per member event: for logs and non-TTY output."""

    def __init__(self, out: Any = None):
        self.out = out or sys.stdout

    def __enter__(self) -> PlainView:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def event(self, text: str) -> None:
        print(f"  * {text}", file=self.out, flush=True)

    def block(self, b: BlockRecord) -> None:
        extra = f" txs {b.txs}" if b.txs else ""
        extra += " (catching up: interval halved)" if b.catch_up else ""
        extra += f" reissuances {b.reissuances}" if b.reissuances else ""
        print(
            f"block {b.height:>5} {b.block_hash[:16]}  proposer {b.proposer} round {b.round}  "
            f"signers {','.join(b.signers)}  {b.latency * 1000:6.1f} ms{extra}",
            file=self.out, flush=True,
        )

    def refresh(self, members: list[dict[str, Any]], assets: list[dict[str, Any]], stats: DemoStats) -> None:
        pass


class RichView(PlainView):
    """A live table: chain tip, recent blocks, members, assets."""

    def __init__(self, title: str):
        from rich.console import Console
        from rich.live import Live

        super().__init__()
        self.console = Console()
        self.title = title
        self.events: list[str] = []
        self.recent: list[BlockRecord] = []
        self.live = Live(console=self.console, refresh_per_second=8, transient=False)

    def __enter__(self) -> RichView:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.__exit__(None, None, None)

    def event(self, text: str) -> None:
        self.events = (self.events + [text])[-5:]

    def block(self, b: BlockRecord) -> None:
        self.recent = (self.recent + [b])[-10:]

    def refresh(self, members: list[dict[str, Any]], assets: list[dict[str, Any]], stats: DemoStats) -> None:
        from rich.console import Group
        from rich.table import Table

        tip = self.recent[-1] if self.recent else None
        head = Table.grid(padding=(0, 2))
        head.add_row(
            f"[b]{self.title}[/b]",
            f"height [b]{tip.height if tip else 0}[/b]",
            f"tip {tip.block_hash[:24] if tip else '-'}",
            f"failovers {stats.failovers}",
        )
        blocks = Table(title="recent blocks", expand=True)
        for col in ("height", "hash", "proposer", "round", "signers", "latency", "txs"):
            blocks.add_column(col)
        for b in reversed(self.recent):
            blocks.add_row(str(b.height), b.block_hash[:16], b.proposer, str(b.round),
                           ",".join(b.signers), f"{b.latency * 1000:.1f} ms",
                           f"{b.txs}" + (f" (+{b.reissuances} reissue)" if b.reissuances else ""))
        mem = Table(title="members", expand=True)
        for col in ("member", "status", "height", "round", "messenger", "signer"):
            mem.add_column(col)
        for m in members:
            colour = {"up": "green", "down": "red", "behind": "yellow"}.get(m["status"], "white")
            mem.add_row(m["name"], f"[{colour}]{m['status']}[/{colour}]", str(m.get("height") or "-"),
                        str(m.get("round") if m.get("round") is not None else "-"),
                        m["messenger"], m["signer"])
        parts: list[Any] = [head, blocks, mem]
        if assets:
            at = Table(title="assets", expand=True)
            for col in ("asset", "supply", "issuer"):
                at.add_column(col)
            for a in assets:
                at.add_row(a["asset"][:16], str(a["supply"]), a.get("issuer", ""))
            parts.append(at)
        if self.events:
            parts.append("\n".join(f"* {e}" for e in self.events))
        self.live.update(Group(*parts))
