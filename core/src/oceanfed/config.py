"""The fed.toml schema (pydantic) and its loader.

Every field is checked at load time; errors name the file and the dotted field and say
what was expected. Plugin tables are kept as raw tables here: ``[messenger]`` and ``[signer]``
are validated by the chosen driver's ``Options`` model, and any other top-level table belongs
to a hooks plugin that declares it (``oceanfed_config_tables``) and checks it itself.

The file carries its format version (``config_version``, 1 when absent). The values that
differ per deployment can come from the environment instead (:data:`ENV_OVERRIDES`, and
systemd's ``$STATE_DIRECTORY`` as the default ``state_dir``); :attr:`FedConfig.sources`
says where each came from.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from oceanfed.consensus.machine import CORE_DEFAULTS
from oceanfed.crypto import parse_pubkey
from oceanfed.errors import ConfigError, DecodeError
from oceanfed.keyfile import SecretFile, SecretPath, resolve_path
from oceanfed.ocean.script import multisig_script, parse_multisig
from oceanfed.rpc import MAX_ANSWER

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MemberEntry(_Strict):
    name: str = Field(min_length=1, max_length=64)
    pubkey: str
    transport_pubkey: str

    @field_validator("pubkey", "transport_pubkey")
    @classmethod
    def _pubkey(cls, v: str) -> str:
        try:
            return parse_pubkey(v).hex()
        except ValueError as exc:
            raise ValueError(f"expected a 33-byte compressed secp256k1 key in hex ({exc})") from None


class Federation(_Strict):
    chain: str = "ocean_test"
    threshold: int = Field(ge=1)
    members: list[MemberEntry] = Field(min_length=1, max_length=16)
    block_time: float = Field(default=CORE_DEFAULTS["block_time"], ge=0)
    signblockscript: str | None = None
    allow_split_brain: bool = False

    @model_validator(mode="after")
    def _check(self) -> Federation:
        n = len(self.members)
        if self.threshold > n:
            raise ValueError(f"threshold {self.threshold} is above the number of members ({n})")
        names = [m.name for m in self.members]
        if len(set(names)) != n:
            raise ValueError("member names must be unique")
        if len({m.pubkey for m in self.members}) != n:
            raise ValueError("member pubkeys must be unique")
        holders: dict[str, str] = {}
        for entry in self.members:
            other = holders.setdefault(entry.transport_pubkey, entry.name)
            if other != entry.name:
                raise ValueError(
                    f"members {other!r} and {entry.name!r} have the same transport_pubkey; "
                    "each member needs its own transport key"
                )
        if self.signblockscript is not None:
            try:
                script = bytes.fromhex(self.signblockscript)
                m, keys = parse_multisig(script)
            except (ValueError, DecodeError) as exc:
                raise ValueError(f"signblockscript: expected M-of-N CHECKMULTISIG hex ({exc})") from None
            if m != self.threshold or [k.hex() for k in keys] != [x.pubkey for x in self.members]:
                raise ValueError(
                    "signblockscript does not match threshold and members (in script order)"
                )
        return self

    def script(self) -> bytes:
        return multisig_script(self.threshold, [bytes.fromhex(m.pubkey) for m in self.members])


class Member(_Strict):
    name: str
    state_dir: str = "state"
    transport_key_file: SecretFile


class Node(_Strict):
    url: str = Field(pattern=r"^https?://")
    user: str | None = None
    password_file: SecretFile | None = None
    password_env: str | None = None
    cookie_file: str | None = None
    timeout: float = Field(default=10.0, gt=0)
    retries: int = Field(default=2, ge=0)
    max_answer_bytes: int = Field(default=MAX_ANSWER, ge=2**20)

    @model_validator(mode="after")
    def _auth(self) -> Node:
        given = [x for x in (self.password_file, self.password_env, self.cookie_file) if x]
        if len(given) > 1:
            raise ValueError("give only one of password_file, password_env, cookie_file")
        return self


class Rounds(_Strict):
    """``[rounds]``: the machine's timings; their defaults are the machine's own (one place)."""

    propose_timeout: float = Field(default=CORE_DEFAULTS["propose_timeout"], gt=0)
    prevote_timeout: float = Field(default=CORE_DEFAULTS["prevote_timeout"], gt=0)
    precommit_timeout: float = Field(default=CORE_DEFAULTS["precommit_timeout"], gt=0)
    timeout_step: float = Field(default=CORE_DEFAULTS["timeout_step"], ge=0)
    gossip_interval: float = Field(default=CORE_DEFAULTS["gossip_interval"], gt=0)
    tip_poll_interval: float = Field(default=CORE_DEFAULTS["tip_poll_interval"], gt=0)


class Log(_Strict):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["text", "json"] = "text"


class Metrics(_Strict):
    listen: str | None = None
    unhealthy_after: float = Field(default=30.0, gt=0)

    @field_validator("listen")
    @classmethod
    def _listen(cls, v: str | None) -> str | None:
        if v is None:
            return v
        host, sep, port = v.rpartition(":")
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            raise ValueError("expected HOST:PORT, e.g. 127.0.0.1:9464")
        return v


class PluginTable(BaseModel):
    """``[messenger]`` / ``[signer]``: a driver name plus that driver's own options."""

    model_config = ConfigDict(extra="allow", frozen=True)
    driver: str = Field(min_length=1)

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


#: the fed.toml format this oceanfed reads and writes (``config_version``)
CONFIG_VERSION = 1

#: environment variables that override one fed.toml value each: ``{VAR: (table, key)}``
ENV_OVERRIDES: dict[str, tuple[str, str]] = {
    "OCEANFED_STATE_DIR": ("member", "state_dir"),
    "OCEANFED_METRICS_LISTEN": ("metrics", "listen"),
    "OCEANFED_LOG_FORMAT": ("log", "format"),
    "OCEANFED_LOG_LEVEL": ("log", "level"),
}

#: systemd's ``StateDirectory=`` (absolute; the first of a colon-separated list): the
#: ``state_dir`` when the file does not set one
STATE_DIRECTORY_ENV = "STATE_DIRECTORY"


class FedConfig(_Strict):
    config_version: int = Field(default=CONFIG_VERSION, ge=1, le=CONFIG_VERSION)
    federation: Federation
    member: Member
    node: Node
    rounds: Rounds = Rounds()
    messenger: PluginTable
    signer: PluginTable
    #: top-level tables that belong to hooks plugins, by name (see :meth:`table`)
    plugin_tables: dict[str, dict[str, Any]] = Field(default_factory=dict)
    log: Log = Log()
    metrics: Metrics = Metrics()

    #: directory of the file; relative paths resolve against it (not part of the TOML)
    base_dir: str = "."
    _sources: dict[str, str] = PrivateAttr(default_factory=dict)

    @property
    def sources(self) -> dict[str, str]:
        """Where the deployment values came from, by dotted field: ``file``, ``default``,
        or ``env VAR`` (``env CREDENTIALS_DIRECTORY`` for a secret found there)."""
        return dict(self._sources)

    @model_validator(mode="before")
    @classmethod
    def _collect_plugin_tables(cls, data: Any) -> Any:
        """Unknown top-level *tables* are hooks plugins' (checked once plugins are loaded);
        unknown top-level keys that are not tables stay errors."""
        if not isinstance(data, dict) or "plugin_tables" in data:
            return data
        known = set(cls.model_fields)
        extra = {k: v for k, v in data.items() if k not in known and isinstance(v, dict)}
        if not extra:
            return data
        rest = {k: v for k, v in data.items() if k not in extra}
        return {**rest, "plugin_tables": extra}

    def table(self, name: str) -> dict[str, Any] | None:
        """Hooks plugin table ``[name]`` as written in the file, or None when absent."""
        return self.plugin_tables.get(name)

    @model_validator(mode="after")
    def _member_known(self) -> FedConfig:
        if self.member.name not in [m.name for m in self.federation.members]:
            raise ValueError(f"member.name {self.member.name!r} is not in federation.members")
        return self

    @property
    def member_index(self) -> int:
        return [m.name for m in self.federation.members].index(self.member.name)

    def path(self, value: str) -> Path:
        """Resolve a path from the config against the config file's directory."""
        return resolve_path(self.base_dir, value)


def format_validation_error(source: str, exc: ValidationError, prefix: str = "") -> str:
    """One line naming the first bad field of ``exc``: ``fed.toml: node.url: …``."""
    err = exc.errors()[0]
    loc = ".".join(str(x) for x in err["loc"] if not str(x).startswith("function-"))
    field = f"{prefix}{loc}" if loc else prefix.rstrip(".") or "(top level)"
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif err["type"] == "missing":
        msg = "missing required key"
    msg = msg.removeprefix("Value error, ")
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{source}: {field}: {msg}{more}"


def load_config(
    path: str | os.PathLike[str], environ: Mapping[str, str] | None = None
) -> FedConfig:
    """Read and validate a fed.toml, with the environment's overrides (``environ``, default
    ``os.environ``); raise ConfigError with one clear line."""
    p = Path(path)
    raw = read_toml(p)
    return validate_config(raw, p, str(p), os.environ if environ is None else environ)


def read_toml(p: Path) -> dict[str, Any]:
    """The parsed TOML of config file ``p``; ConfigError with one line otherwise."""
    try:
        with open(p, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{p}: is a directory, not a config file") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config file ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML ({exc})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(not_utf8(p, exc)) from None


def not_utf8(path: Path, exc: UnicodeDecodeError) -> str:
    """One line for a config file that is not UTF-8 text."""
    byte = exc.object[exc.start : exc.start + 1].hex()
    return f"{path}: not a UTF-8 text file (byte 0x{byte} at offset {exc.start}); save it as UTF-8"


def check_version(raw: Mapping[str, Any], source: str) -> None:
    """Refuse a ``config_version`` this oceanfed does not know, in one line."""
    version = raw.get("config_version", 1)
    if isinstance(version, bool) or not isinstance(version, int):
        raise ConfigError(f"{source}: config_version: expected an integer, e.g. {CONFIG_VERSION}")
    if version > CONFIG_VERSION:
        from oceanfed import __version__

        raise ConfigError(
            f"{source}: config_version {version} is newer than oceanfed {__version__} "
            f"understands (up to {CONFIG_VERSION}); upgrade oceanfed, or write the file for "
            f"version {CONFIG_VERSION}"
        )
    if version < 1:
        raise ConfigError(f"{source}: config_version {version}: expected 1 to {CONFIG_VERSION}")


def apply_environment(raw: dict[str, Any], environ: Mapping[str, str]) -> dict[str, str]:
    """Put the environment's overrides into the parsed TOML ``raw``; return the source of
    each overridable value by dotted field (``file``, ``default`` or ``env VAR``).

    An empty variable counts as unset. ``OCEANFED_STATE_DIR`` is made absolute against the
    working directory; ``$STATE_DIRECTORY`` applies only when the file sets no state_dir.
    """
    sources: dict[str, str] = {}
    for var, (table, key) in ENV_OVERRIDES.items():
        field = f"{table}.{key}"
        section = raw.get(table)
        in_file = isinstance(section, dict) and key in section
        value = environ.get(var, "")
        if not value and field == "member.state_dir" and not in_file:
            value = environ.get(STATE_DIRECTORY_ENV, "").split(":")[0]
            var = STATE_DIRECTORY_ENV
        if value and (section is None or isinstance(section, dict)):
            if var == "OCEANFED_STATE_DIR":
                value = os.path.abspath(os.path.expanduser(value))
            raw.setdefault(table, {})[key] = value
            sources[field] = f"env {var}"
        else:
            sources[field] = "file" if in_file else "default"
    return sources


def _env_var(sources: Mapping[str, str], loc: tuple[Any, ...]) -> str | None:
    field = ".".join(str(x) for x in loc[:2])
    source = sources.get(field, "")
    return source.removeprefix("env ") if source.startswith("env ") else None


def validation_lines(
    source: str, exc: ValidationError, sources: Mapping[str, str], raw: Mapping[str, Any]
) -> list[str]:
    """One line per bad field; a value from the environment names its variable."""
    lines = []
    for err in exc.errors():
        var = _env_var(sources, tuple(err["loc"]))
        if var is not None:
            table, key = (str(x) for x in err["loc"][:2])
            msg = str(err["msg"]).removeprefix("Value error, ")
            lines.append(f"{var} (environment): {msg}; got {raw[table][key]!r}")
        else:
            lines.append(format_validation_error(source, _OneError(err)))  # type: ignore[arg-type]
    return lines


class _OneError:
    """One entry of a ValidationError, shaped for :func:`format_validation_error`."""

    def __init__(self, err: Any):
        self._err = err

    def errors(self) -> list[Any]:
        return [self._err]


def validate_config(
    raw: dict[str, Any], path: Path, source: str, environ: Mapping[str, str] | None = None
) -> FedConfig:
    """Validate the parsed TOML ``raw`` of a fed.toml at ``path`` (relative paths resolve
    beside it), with the overrides of ``environ`` if given; ConfigError naming ``source``
    (or the environment variable) and the first bad field otherwise."""
    cfg, lines = config_problems(raw, path, source, environ)
    if cfg is None:
        more = f" (and {len(lines) - 1} more)" if len(lines) > 1 else ""
        raise ConfigError(lines[0] + more)
    return cfg


def config_problems(
    raw: dict[str, Any], path: Path, source: str, environ: Mapping[str, str] | None = None
) -> tuple[FedConfig | None, list[str]]:
    """Like :func:`validate_config`, but every problem as one line instead of raising."""
    try:
        check_version(raw, source)
    except ConfigError as exc:
        return None, [str(exc)]
    sources = apply_environment(raw, environ) if environ is not None else {}
    raw["base_dir"] = str(path.resolve().parent)
    try:
        cfg = FedConfig.model_validate(raw)
    except ValidationError as exc:
        return None, validation_lines(source, exc, sources, raw)
    for field in ("member.transport_key_file", "node.password_file"):
        table, key = field.split(".")
        value = getattr(getattr(cfg, table), key)
        if isinstance(value, SecretPath):
            sources[field] = "env CREDENTIALS_DIRECTORY" if value.credential else "file"
    cfg._sources = sources
    return cfg, []
