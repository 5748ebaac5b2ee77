"""``oceanfed plugins``: list the installed plugins and where they come from."""

from __future__ import annotations

import argparse
import json
from typing import Any

from oceanfed import plugins

GROUPS = (
    ("messengers", plugins.MESSENGERS),
    ("signers", plugins.SIGNERS),
    ("inflation policies", plugins.INFLATION),
    ("hooks", plugins.HOOKS),
    ("commands", plugins.COMMANDS),
)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "plugins",
        help="list installed messengers, signers, inflation policies, hooks and commands",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    found = {title: plugins.installed(group) for title, group in GROUPS}
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
    for (title, group), rows in zip(GROUPS, found.values(), strict=True):
        print(f"{title} ({group}):")
        if not rows:
            print("  (none)")
        width = max((len(n) for n, _, _ in rows), default=0)
        for name, dist, version in rows:
            print(f"  {name:<{width}}  {dist} {version}")
    return 0
