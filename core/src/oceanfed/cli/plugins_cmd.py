"""``oceanfed plugins``: list the installed plugins and where they come from.

The core's groups are always listed; a group a plugin defines for its own plugins (any
other ``oceanfed.*`` entry point group) is listed under its last part.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from oceanfed import plugins

CORE_GROUPS = (
    ("messengers", plugins.MESSENGERS),
    ("signers", plugins.SIGNERS),
    ("hooks", plugins.HOOKS),
    ("commands", plugins.COMMANDS),
)


def groups() -> list[tuple[str, str]]:
    """``(title, group)`` of the core's groups, then of every other installed one."""
    core = [g for _, g in CORE_GROUPS]
    return [*CORE_GROUPS, *((g.removeprefix("oceanfed."), g) for g in plugins.groups() if g not in core)]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "plugins",
        help="list installed messengers, signers, hooks, commands and plugins' own plugins",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    listed = groups()
    found = {title: plugins.installed(group) for title, group in listed}
    if args.json:
        print(
            json.dumps(
                {
                    title: [{"name": n, "distribution": d, "version": v} for n, d, v in rows]
                    for title, rows in found.items()
                },
                indent=2,
            )
        )
        return 0
    for (title, group), rows in zip(listed, found.values(), strict=True):
        print(f"{title} ({group}):")
        if not rows:
            print("  (none)")
        width = max((len(n) for n, _, _ in rows), default=0)
        for name, dist, version in rows:
            print(f"  {name:<{width}}  {dist} {version}")
    return 0
