"""What the sub-commands share: the ``--config`` option, in the same place for every command.

``--config FILE`` may be given before the command (``oceanfed --config X status``) or after
it (``oceanfed status --config X``); ``$OCEANFED_CONFIG`` is its default. A command that
reads a config adds the option with :func:`add_config_argument` and finds the file with
:func:`config_path`.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from oceanfed.errors import ConfigError

#: the environment variable naming the fed.toml when --config is not given
CONFIG_ENV = "OCEANFED_CONFIG"


def add_config_argument(parser: Any, help: str = "the member's fed.toml") -> None:
    """Add ``--config`` to a sub-command; a value given before the command is kept."""
    parser.add_argument(
        "--config", metavar="FILE", default=argparse.SUPPRESS,
        help=f"{help} (default: ${CONFIG_ENV})",
    )


def config_source(args: argparse.Namespace) -> tuple[str, str] | None:
    """``(path, where it came from)``: ``--config`` or ``$OCEANFED_CONFIG``; None if neither."""
    given = getattr(args, "config", None)
    if given:
        return given, "--config"
    env = os.environ.get(CONFIG_ENV, "")
    if env:
        return env, f"${CONFIG_ENV}"
    return None


def config_path(args: argparse.Namespace) -> str:
    """The fed.toml a command should read; ConfigError when neither source names one."""
    found = config_source(args)
    if found is None:
        raise ConfigError(f"--config FILE is required (or set {CONFIG_ENV})")
    return found[0]
