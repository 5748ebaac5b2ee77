"""``oceanfed init --from-upstream -- <upstream arguments>``: the hook into ``oceanfed init``.

:func:`add_from_upstream` adds the flags to init's parser (flags init already has, such as
``--out`` or ``--block-time``, are shared); :func:`run_from_upstream` runs the conversion
and prints its report and this member's card.
"""

from __future__ import annotations

import argparse
from typing import Any

from oceanfed.errors import ConfigError
from oceanfed.migrate.convert import Options, convert

#: init flags that the chain or the upstream command line decide instead
_NOT_WITH_UPSTREAM = {
    "name": "--name", "member": "--member", "threshold": "--threshold",
    "signblockscript": "--signblockscript", "node_url": "--node-url", "node_user": "--node-user",
    "bind": "--bind", "peer": "--peer", "messenger_opt": "--messenger-opt",
    "signer_opt": "--signer-opt",
}  # fmt: skip


def _add(parser: argparse.ArgumentParser, flag: str, **kwargs: Any) -> None:
    """Add ``flag`` unless the parser already has it (init and the hook share flags)."""
    if flag not in parser._option_string_actions:
        parser.add_argument(flag, **kwargs)


def add_from_upstream(parser: argparse.ArgumentParser) -> None:
    """Add ``--from-upstream`` and its companion flags to ``oceanfed init``'s parser."""
    group = parser.add_argument_group(
        "migration from the upstream daemon",
        "oceanfed init --from-upstream [--out fed.toml] [--member-cards FILE] -- <upstream "
        "arguments>: read the federation from the chain, write this member's keys and, once "
        "every member's card is given, its fed.toml. See docs/migration.md.",
    )
    group.add_argument("--from-upstream", action="store_true",
                       help="convert the upstream daemon's arguments, given after '--'")
    group.add_argument("--member-card", action="append", default=[], metavar="ID:PUBKEY:TRANSPORT",
                       help="another member's card, as its conversion printed it (repeat)")
    group.add_argument("--member-cards", action="append", default=[], metavar="FILE",
                       dest="member_card_files", help="a file of member cards, one a line")
    group.add_argument("--reissuance-key-file", default="reissuance.key", metavar="FILE",
                       help="where the --reissuanceprivkey goes (mode 0600; default reissuance.key)")
    _add(parser, "--out", default="fed.toml")
    _add(parser, "--block-time", type=float, default=None)
    _add(parser, "--state-dir", default="state")
    _add(parser, "--transport-key-file", default="transport.key")
    _add(parser, "--password-file")
    _add(parser, "--password-env")
    _add(parser, "--cookie-file")
    _add(parser, "--bootstrap", action="append", default=[])
    parser.add_argument("upstream_args", nargs=argparse.REMAINDER, metavar="-- UPSTREAM_ARGS",
                        help="with --from-upstream: the upstream daemon's arguments, after '--'")


def wants_upstream(args: argparse.Namespace) -> bool:
    """True when ``oceanfed init`` was asked to convert (or given upstream arguments)."""
    return bool(getattr(args, "from_upstream", False) or getattr(args, "upstream_args", None))


def run_from_upstream(args: argparse.Namespace) -> int:
    """Run the conversion for ``oceanfed init --from-upstream``; print the report."""
    if not getattr(args, "from_upstream", False):
        raise ConfigError("init: arguments after '--' are upstream arguments; add --from-upstream")
    for dest, flag in _NOT_WITH_UPSTREAM.items():
        if getattr(args, dest, None):
            raise ConfigError(f"init {flag}: not used with --from-upstream (the chain and the "
                              "upstream arguments decide it)")
    given = sum(bool(getattr(args, k, None)) for k in ("password_file", "password_env", "cookie_file"))
    if given > 1:
        raise ConfigError("init: give only one of --password-file, --password-env, --cookie-file")
    opts = Options(
        out=args.out,
        block_time=getattr(args, "block_time", None),
        state_dir=getattr(args, "state_dir", "state") or "state",
        transport_key_file=getattr(args, "transport_key_file", "transport.key") or "transport.key",
        password_file=getattr(args, "password_file", None),
        password_env=getattr(args, "password_env", None),
        cookie_file=getattr(args, "cookie_file", None),
        bootstrap=list(getattr(args, "bootstrap", None) or []),
        member_cards=list(getattr(args, "member_card", None) or []),
        member_card_files=list(getattr(args, "member_card_files", None) or []),
        metrics_listen=getattr(args, "metrics_listen", None),
        log_format=getattr(args, "init_log_format", None),
        inflation_key_file=getattr(args, "reissuance_key_file", "reissuance.key"),
    )
    result = convert(list(getattr(args, "upstream_args", None) or []), opts)
    title = f"oceanfed init --from-upstream: member {result.name}"
    print(result.report.render(title))
    print(f"member card: {result.card.line()}")
    return 0
