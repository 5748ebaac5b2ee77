"""``oceanfed audit --config fed.toml [--states [NAME=]DIR …]``: check the chain against the
members' sign-states, for operators after an incident.

Every block from ``--from`` to the node's tip must build on the one before and carry a
valid proof with at least M signatures; every signature in a block must be recorded in
that member's sign-state (when its state is given); and no member may have agreed to sign
another block than the chain's at any height. Each finding is one line on stdout; the exit
status is 0 when there is none, 3 when there is any, 1 when the audit could not run.

Without ``--states`` the member's own ``state_dir`` is read. Copies of other members'
state directories can be given as ``NAME=DIR``, or as ``DIR`` when the member that wrote it
named itself in its ``status.json``. State databases are opened read-only, so a running
member can be audited.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path
from typing import Any

from oceanfed.audit import audit_chain, chain_headers, read_signed
from oceanfed.cli.common import add_config_argument, config_path
from oceanfed.cli.status_cmd import read_status_file
from oceanfed.config import FedConfig, load_config
from oceanfed.errors import ConfigError, OceanfedError

#: exit status when the audit found something
FINDINGS = 3


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "audit", help="check the chain against the members' sign-states",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_argument(p, "a member's fed.toml (node and federation)")
    p.add_argument("--states", nargs="+", metavar="[NAME=]DIR", default=None,
                   help="members' state directories (default: this member's state_dir)")
    p.add_argument("--from", dest="first", type=int, default=0, metavar="HEIGHT",
                   help="audit blocks from HEIGHT to the tip (default 0, the whole chain)")
    p.set_defaults(func=run)


def _named_state(spec: str, cfg: FedConfig) -> tuple[str, Path]:
    """``NAME=DIR`` or ``DIR`` (named by its status.json) as (member name, directory)."""
    names = [m.name for m in cfg.federation.members]
    name, sep, where = spec.partition("=")
    if not sep or not name or Path(spec).exists():
        name, where = "", spec
    path = Path(where)
    if not (path / "state.sqlite3").is_file():
        raise ConfigError(f"--states {spec}: {path} holds no state.sqlite3 (not a member's state_dir)")
    if not name:
        name = (read_status_file(path) or {}).get("member") or ""
        if not name:
            raise ConfigError(f"--states {spec}: cannot tell which member wrote it; give it as NAME={spec}")
    if name not in names:
        raise ConfigError(f"--states {spec}: {name!r} is not in federation.members ({', '.join(names)})")
    return name, path


def run(args: argparse.Namespace) -> int:
    from oceanfed.rpc import from_config

    cfg = load_config(config_path(args))
    if args.first < 0:
        raise ConfigError(f"--from {args.first}: expected a height of 0 or more")
    if args.states is None:
        states = [(cfg.member.name, cfg.path(cfg.member.state_dir))]
    else:
        states = [_named_state(spec, cfg) for spec in args.states]
    signed: dict[str, dict[int, str]] = {}
    for name, path in states:
        if name in signed:
            raise ConfigError(f"--states: two state directories for member {name!r}")
        try:
            signed[name] = read_signed(path)
        except sqlite3.Error as exc:
            raise OceanfedError(f"{path / 'state.sqlite3'}: cannot read the sign-state ({exc})") from None
    node = from_config(cfg.node, cfg.base_dir, cfg.federation.chain)
    try:
        start = max(0, args.first - 1)  # the block before the first is read for the link
        headers = chain_headers(node, start)
    finally:
        node.close()
    if args.first > start + len(headers) - 1:
        raise ConfigError(f"--from {args.first}: the node's tip is {start + len(headers) - 1}")
    names = [m.name for m in cfg.federation.members]
    problems = audit_chain(headers, cfg.federation.threshold, signed, names, start=start)
    for line in problems:
        print(line)
    tip = start + len(headers) - 1
    print(
        f"audit: blocks {args.first}..{tip}, sign-states of {', '.join(sorted(signed)) or 'none'}: "
        f"{len(problems) or 'no'} finding{'' if len(problems) == 1 else 's'}",
        file=sys.stderr,
    )
    return FINDINGS if problems else 0
