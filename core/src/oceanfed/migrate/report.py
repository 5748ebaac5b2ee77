"""The short report ``oceanfed init --from-upstream`` prints: what it decided, and where
the upstream daemon's assumptions differ from the chain."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

#: kinds of report lines, in the order they are printed
KINDS = ("decided", "differs", "warning", "next")
#: topics in the order they are printed within a kind
TOPICS = ("node", "members", "threshold", "order", "signer", "messenger", "block time",
          "transport key", "state", "inflation", "member cards", "check")


@dataclass(frozen=True)
class Item:
    kind: str
    topic: str
    text: str


@dataclass
class Report:
    """Lines of the report; no secret is ever added to one."""

    items: list[Item] = field(default_factory=list)

    def add(self, kind: str, topic: str, text: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown report kind {kind!r}")
        self.items.append(Item(kind, topic, text))

    def decided(self, topic: str, text: str) -> None:
        self.add("decided", topic, text)

    def differs(self, topic: str, text: str) -> None:
        self.add("differs", topic, text)

    def warning(self, topic: str, text: str) -> None:
        self.add("warning", topic, text)

    def next(self, topic: str, text: str) -> None:
        self.add("next", topic, text)

    def of(self, kind: str) -> list[Item]:
        return [i for i in self.items if i.kind == kind]

    def render(self, title: str, width: int = 100) -> str:
        out = [title]
        for kind in KINDS:
            items = sorted(self.of(kind), key=lambda i: TOPICS.index(i.topic)
                           if i.topic in TOPICS else len(TOPICS))
            for item in items:
                head = f"  {kind:<8} {item.topic}: "
                body = textwrap.wrap(item.text, max(40, width - len(head)),
                                     break_on_hyphens=False, break_long_words=False)
                out.append(head + (body[0] if body else ""))
                out += [" " * len(head) + line for line in body[1:]]
        return "\n".join(out)
