"""The fed.toml schema (pydantic) and its loader.

Every field is checked at load time; errors name the file and the dotted field and say
what was expected. Plugin tables (``[messenger]``, ``[signer]``, ``[inflation]``) are kept
as raw tables here and validated by the chosen plugin's own ``Options`` model.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from oceanfed.crypto import parse_pubkey
from oceanfed.errors import ConfigError, DecodeError
from oceanfed.ocean.script import multisig_script, parse_multisig

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
    block_time: float = Field(default=60.0, ge=0)
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
    transport_key_file: str


class Node(_Strict):
    url: str = Field(pattern=r"^https?://")
    user: str | None = None
    password_file: str | None = None
    password_env: str | None = None
    cookie_file: str | None = None
    timeout: float = Field(default=10.0, gt=0)
    retries: int = Field(default=2, ge=0)

    @model_validator(mode="after")
    def _auth(self) -> Node:
        given = [x for x in (self.password_file, self.password_env, self.cookie_file) if x]
        if len(given) > 1:
            raise ValueError("give only one of password_file, password_env, cookie_file")
        return self


class Rounds(_Strict):
    propose_timeout: float = Field(default=2.0, gt=0)
    prevote_timeout: float = Field(default=1.0, gt=0)
    precommit_timeout: float = Field(default=1.0, gt=0)
    timeout_step: float = Field(default=0.5, ge=0)
    gossip_interval: float = Field(default=0.5, gt=0)
    tip_poll_interval: float = Field(default=0.5, gt=0)


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


class FedConfig(_Strict):
    federation: Federation
    member: Member
    node: Node
    rounds: Rounds = Rounds()
    messenger: PluginTable
    signer: PluginTable
    inflation: dict[str, Any] | None = None
    log: Log = Log()
    metrics: Metrics = Metrics()

    #: directory of the file; relative paths resolve against it (not part of the TOML)
    base_dir: str = "."

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
        p = Path(os.path.expanduser(value))
        return p if p.is_absolute() else Path(self.base_dir) / p


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


def load_config(path: str | os.PathLike[str]) -> FedConfig:
    """Read and validate a fed.toml; raise ConfigError with one clear line."""
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config file ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML ({exc})") from None
    return validate_config(raw, p, str(p))


def validate_config(raw: dict[str, Any], path: Path, source: str) -> FedConfig:
    """Validate the parsed TOML ``raw`` of a fed.toml at ``path`` (relative paths resolve
    beside it); ConfigError naming ``source`` and the first bad field otherwise."""
    raw["base_dir"] = str(path.resolve().parent)
    try:
        return FedConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(source, exc)) from None
