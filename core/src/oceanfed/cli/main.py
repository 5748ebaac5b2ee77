"""Entry point of the ``oceanfed`` command.

Each sub-command lives in its own module ``oceanfed.cli.<name>_cmd`` exposing
``register(subparsers)``, which adds a parser whose ``func`` default runs it and returns an
exit status. Plugins add commands through the entry point group ``oceanfed.commands``
(a callable taking the subparsers object), e.g. ``oceanfed hsm`` from the PKCS#11 plugin and
``oceanfed devnet``, ``demo`` and ``bench`` from oceanfed-devnet.

``--config`` (default ``$OCEANFED_CONFIG``) may come before or after the command
(:mod:`oceanfed.cli.common`); given before no command, it runs the member.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

from oceanfed import __version__
from oceanfed.errors import OceanfedError

BUILTIN = ("run", "keygen", "script", "plugins", "init", "check", "status", "audit", "state")

#: commands of the plugin distributions, ``{command: extra}``: when one is not installed, the
#: command says in one line how to install it instead of being unknown
PLUGIN_COMMANDS = {"devnet": "devnet", "demo": "devnet", "bench": "devnet"}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"oceanfed: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="oceanfed", description="Federated block signing for Ocean sidechains.")
    parser.add_argument("--version", action="version", version=f"oceanfed {__version__}")
    parser.add_argument(
        "--config", metavar="FILE", default=None,
        help="the member's fed.toml, for any command (default: $OCEANFED_CONFIG); "
        "without a command, run the member (same as 'run')",
    )
    parser.add_argument("--log-format", choices=("text", "json"), default=None)
    parser.add_argument("--log-level", choices=("debug", "info", "warning", "error"), default=None)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in BUILTIN:
        try:
            module = importlib.import_module(f"oceanfed.cli.{name}_cmd")
        except ModuleNotFoundError as exc:
            if exc.name == f"oceanfed.cli.{name}_cmd":
                continue
            raise
        module.register(sub)
    from oceanfed import plugins

    for name, _, _ in plugins.installed(plugins.COMMANDS):
        try:
            plugins.load(plugins.COMMANDS, name)(sub)
        except Exception as exc:  # a broken plugin must not break the CLI
            logging.getLogger("oceanfed").warning("command plugin %s failed to load: %s", name, exc)
    for name, extra in PLUGIN_COMMANDS.items():
        if name not in sub.choices:
            _not_installed(sub, name, extra)
    return parser


def _not_installed(sub: Any, name: str, extra: str) -> None:
    """Command ``name`` of extra ``extra``, not installed: it fails with one line, whatever
    its arguments (none of them is parsed: the parser has no options, not even ``--help``)."""
    hint = f"pip install 'oceanfed[{extra}]'"
    p = sub.add_parser(name, help=f"(not installed: {hint})", add_help=False, prefix_chars="\0")
    p.add_argument("args", nargs="*")

    def missing(_args: argparse.Namespace) -> int:
        print(f"oceanfed: {name}: not installed; it comes with {hint}", file=sys.stderr)
        return 2

    p.set_defaults(func=missing)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        if args.config:
            from oceanfed.cli import run_cmd

            args.func = run_cmd.run
            args.once = False
        else:
            parser.print_help()
            return 2
    try:
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # here, so that a closed pipe is caught below
        return status
    except BrokenPipeError:
        return _closed_pipe()
    except OceanfedError as exc:
        print(f"oceanfed: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _closed_pipe() -> int:
    """The reader of our output went away (``oceanfed check --json | head``): stop quietly.

    Standard output is pointed at /dev/null so that the interpreter's last flush at exit
    cannot fail again; the status is the shell's for a process ended by SIGPIPE.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
    return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
