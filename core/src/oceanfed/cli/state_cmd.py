"""``oceanfed state reset --config fed.toml --from-height H``: a deliberate fresh start.

A member whose state is lost or damaged refuses to run; it never starts fresh by itself.
``state reset`` is the operator's explicit act: it records ``max(node tip, H)`` (and any
higher height the old state still shows) as a floor at and below which the member never
signs, keeps the old database files beside the new one, and rewrites the marker. It
refuses while a member runs on the state directory.
"""

from __future__ import annotations

import argparse
from typing import Any

from oceanfed.cli.common import add_config_argument, config_path
from oceanfed.config import load_config


def _height(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a block height, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a height of 0 or more, got {value}")
    return value


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "state", help="manage a member's sign-state (reset)",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    sub = p.add_subparsers(dest="state_command", metavar="ACTION", required=True,
                           parser_class=type(p))
    r = sub.add_parser("reset", help="start the sign-state afresh above a floor height",
                       description=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    add_config_argument(r)
    r.add_argument("--from-height", type=_height, required=True, metavar="H",
                   help="sign nothing at or below max(H, the node's tip)")
    r.set_defaults(func=reset)


def reset(args: argparse.Namespace) -> int:
    from oceanfed.member import check_chain
    from oceanfed.rpc import from_config
    from oceanfed.statestore import REMEDY, Owner, reset_state

    cfg = load_config(config_path(args))
    client = from_config(cfg.node, cfg.base_dir, cfg.federation.chain)
    try:
        tip = check_chain(cfg, client)
    finally:
        client.close()
    state_dir = cfg.path(cfg.member.state_dir)
    done = reset_state(state_dir, Owner(cfg.federation.chain, cfg.member.name),
                       max(tip, args.from_height))
    print(f"state reset: {state_dir}: member {cfg.member.name} will sign only above height "
          f"{done.floor} (node tip {tip}, --from-height {args.from_height})")
    if done.old_error:
        reason = done.old_error.replace(f"; {REMEDY}", "")
        print(f"the old state was unusable: {reason}")
    for path in done.kept:
        print(f"kept the old file as {path}")
    return 0
