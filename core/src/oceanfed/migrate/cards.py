"""Member cards: how the members of a migrating federation learn each other's transport keys.

oceanfed signs every message with a per-member transport key; upstream had none. Each
member's conversion generates its own transport key and prints one card line::

    <upstream --id>:<block pubkey>:<transport pubkey>

The block pubkey places the member in the chain's script (hence its name); the upstream id
places it in ``--nodes`` (hence its ZMQ address). Every member collects all N cards (a file,
one card a line, ``#`` comments allowed) and re-runs its conversion with them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from oceanfed.crypto import parse_pubkey
from oceanfed.errors import ConfigError


@dataclass(frozen=True)
class Card:
    """One member's card."""

    upstream_id: int
    pubkey: bytes
    transport_pubkey: bytes

    def line(self) -> str:
        return f"{self.upstream_id}:{self.pubkey.hex()}:{self.transport_pubkey.hex()}"


def parse_card(text: str, source: str) -> Card:
    """``ID:PUBKEY:TRANSPORT_PUBKEY``; ConfigError naming ``source`` otherwise."""
    parts = text.strip().split(":")
    if len(parts) != 3 or not parts[0].strip().isdigit():
        raise ConfigError(
            f"{source}: member card {text.strip()!r} is malformed "
            "(expected UPSTREAM_ID:BLOCK_PUBKEY:TRANSPORT_PUBKEY)"
        )
    try:
        pubkey = parse_pubkey(parts[1].strip())
        transport = parse_pubkey(parts[2].strip())
    except ValueError as exc:
        raise ConfigError(f"{source}: member card {text.strip()!r}: {exc}") from None
    return Card(int(parts[0]), pubkey, transport)


def read_cards(items: Iterable[str], files: Iterable[str]) -> list[Card]:
    """Cards given as ``--member-card`` values (comma-separated allowed) and card files."""
    cards: list[Card] = []
    for item in items:
        for piece in item.split(","):
            if piece.strip():
                cards.append(parse_card(piece, "--member-card"))
    for name in files:
        path = Path(name)
        try:
            lines = path.read_text().splitlines()
        except OSError as exc:
            raise ConfigError(f"--member-cards: cannot read {path} ({exc.strerror})") from None
        for n, raw in enumerate(lines, 1):
            line = raw.split("#", 1)[0].strip()
            if line:
                cards.append(parse_card(line, f"{path}:{n}"))
    return cards


def merge_cards(cards: list[Card], own: Card) -> dict[bytes, Card]:
    """Cards by block pubkey, this member's own included; conflicts are errors."""
    by_key: dict[bytes, Card] = {own.pubkey: own}
    by_id: dict[int, Card] = {own.upstream_id: own}
    for card in cards:
        if card.pubkey == own.pubkey and card != own:
            if card.transport_pubkey != own.transport_pubkey:
                raise ConfigError(
                    f"member card {card.line()}: it names this member's block key "
                    f"{own.pubkey.hex()} with another transport key than this member's "
                    "(an old card, or two members sharing one block key)"
                )
            raise ConfigError(
                f"member card {card.line()}: it names this member's block key "
                f"{own.pubkey.hex()} under upstream id {card.upstream_id}, but this member "
                f"is --id {own.upstream_id}"
            )
        known = by_key.get(card.pubkey)
        if known is not None and known != card:
            raise ConfigError(f"member cards {known.line()} and {card.line()} name one block key")
        other = by_id.get(card.upstream_id)
        if other is not None and other != card:
            raise ConfigError(
                f"member cards {other.line()} and {card.line()} claim one upstream id"
            )
        by_key[card.pubkey] = card
        by_id[card.upstream_id] = card
    return by_key
