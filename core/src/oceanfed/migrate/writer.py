"""Render a converted fed.toml with a comment on every decision, check it, write it.

The file is checked with the same schema ``oceanfed run`` loads (and the chosen plugins'
own option models) before it is written; it is written atomically, fsynced, and never over
an existing file. Secrets are written to their own owner-only files, never to the TOML.
"""

from __future__ import annotations

import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oceanfed.atomicfile import write_atomic
from oceanfed.config import CONFIG_VERSION, FedConfig, PluginTable, validate_config
from oceanfed.errors import ConfigError
from oceanfed.interfaces import Messenger, Signer
from oceanfed.keyfile import read_secret_file, write_secret_file
from oceanfed.plugins import MESSENGERS, SIGNERS, load, validate_options
from oceanfed.tomlwrite import toml_value

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

WIDTH = 88


@dataclass
class Table:
    """One TOML table: a heading comment and ``(key, value, comment)`` rows."""

    name: str
    about: str = ""
    rows: list[tuple[str, Any, str]] = field(default_factory=list)
    array: bool = False

    def add(self, key: str, value: Any, comment: str = "") -> Table:
        self.rows.append((key, value, comment))
        return self

    def values(self) -> dict[str, Any]:
        return {k: v for k, v, _ in self.rows}


def _comment(text: str) -> list[str]:
    lines = textwrap.wrap(text, WIDTH - 2, break_on_hyphens=False, break_long_words=False)
    return [f"# {line}" for line in lines]


def render(header: list[str], tables: list[Table]) -> str:
    """The fed.toml text: ``header`` comment lines, then every table with its comments."""
    out = [f"# {line}" if line else "#" for line in header]
    out += ["", f"config_version = {CONFIG_VERSION}  # the format of this file", ""]
    for table in tables:
        out += _comment(table.about)
        out.append(f"[[{table.name}]]" if table.array else f"[{table.name}]")
        for key, value, comment in table.rows:
            out += _comment(comment)
            out.append(f"{key} = {toml_value(value)}")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def validate(text: str, out: Path) -> FedConfig:
    """Load ``text`` as ``oceanfed run`` would; ConfigError naming the field otherwise."""
    source = f"{out} (converted)"
    cfg = validate_config(tomllib.loads(text), out, source)
    for kind, group, base in (("messenger", MESSENGERS, Messenger), ("signer", SIGNERS, Signer)):
        table: PluginTable = getattr(cfg, kind)
        try:
            cls: type[Messenger] | type[Signer] = load(group, table.driver, base)
        except ConfigError as exc:
            extra = "hsm" if table.driver == "pkcs11" else table.driver
            raise ConfigError(f"{source}: {exc}; pip install 'oceanfed[{extra}]'") from None
        validate_options(cls, table, kind, source)
    return cfg


def write_new(path: Path, text: str) -> None:
    """Create ``path`` atomically and durably; an existing file is never replaced."""
    try:
        write_atomic(path, text.encode("utf-8"), mode=0o644, replace=False)
    except FileExistsError:
        raise ConfigError(f"{path}: already exists; not overwriting (remove it or use --out)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot create ({exc.strerror})") from None


def keep_or_write_secret(path: Path, text: str, what: str, flag: str) -> str:
    """Write a secret to an owner-only file; an existing file must hold the same secret.

    Returns ``"wrote"`` or ``"kept"``; the secret never appears in an error.
    """
    if path.exists() or path.is_symlink():
        if read_secret_file(path, what) != text:
            raise ConfigError(
                f"{path}: already holds a different {what} than upstream {flag}; "
                "remove it or choose another file"
            )
        return "kept"
    write_secret_file(path, text)
    return "wrote"
