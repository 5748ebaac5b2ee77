"""``[messenger]`` options of the ``zmq`` driver, and CURVE key helpers."""

from __future__ import annotations

import os
import re

from pydantic import Field, field_validator, model_validator
from zmq.utils import z85

import zmq
from oceanfed.errors import ConfigError
from oceanfed.interfaces import PluginOptions
from oceanfed.keyfile import SecretFile, read_secret_file
from oceanfed.wire import MAX_FRAME

_TCP = re.compile(r"^tcp://(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-_]+|\*):(\d{1,5})$")


def check_address(value: str, *, bind: bool) -> str:
    """Accept ``tcp://HOST:PORT`` (``*`` as host only for a bind) or ``ipc://PATH``."""
    if value.startswith("ipc://") and len(value) > len("ipc://"):
        return value
    m = _TCP.match(value)
    if m is None or not 0 < int(m.group(1)) < 65536 or (not bind and "//*:" in value):
        raise ValueError(f"expected tcp://HOST:PORT or ipc://PATH, got {value!r}")
    return value


def decode_curve_key(text: str | bytes) -> bytes:
    """The 32 raw bytes of a 40-character Z85 CURVE key; ValueError otherwise."""
    if isinstance(text, str):
        if not text.isascii():
            raise ValueError("expected a 40-character Z85 CURVE key")
        text = text.encode("ascii")
    raw = text
    if len(raw) != 40:
        raise ValueError("expected a 40-character Z85 CURVE key")
    try:
        key = z85.decode(raw)
    except (ValueError, KeyError, TypeError):
        raise ValueError("expected a 40-character Z85 CURVE key") from None
    if len(key) != 32:
        raise ValueError("expected a 40-character Z85 CURVE key")
    return bytes(key)


def curve_public_of(secret_z85: bytes) -> bytes:
    """The Z85 public key of a Z85 CURVE secret key."""
    return bytes(zmq.curve_public(secret_z85))


def read_curve_secret(path: str | os.PathLike[str], allow_group_readable: bool = False) -> bytes:
    """The Z85 CURVE secret key in the secret file ``path`` (read under the rules of every
    secret file); ConfigError naming the file, never the key, when it is malformed."""
    text = read_secret_file(path, "CURVE secret key", allow_group_readable=allow_group_readable)
    try:
        decode_curve_key(text)
    except ValueError as exc:
        raise ConfigError(f"{path}: malformed CURVE secret key file: {exc}") from None
    return text.encode("ascii")


class ZmqOptions(PluginOptions):
    """Options of the ZeroMQ mesh: one PUB per member, one SUB connected to every peer.

    fed.toml::

        [messenger]
        driver = "zmq"
        bind = "tcp://0.0.0.0:7000"
        peers = { bob = "tcp://10.0.0.2:7000", carol = "tcp://10.0.0.3:7000" }
        # optional CURVE encryption and authentication
        curve_secret_key_file = "keys/curve.key"
        curve_public_keys = { alice = "…", bob = "…", carol = "…" }
    """

    #: this member's PUB address
    bind: str
    #: every other member's PUB address, by member name
    peers: dict[str, str] = Field(default_factory=dict)
    #: this member's Z85 CURVE secret key file (mode 0600), relative to the config file
    curve_secret_key_file: SecretFile | None = None
    #: every member's Z85 CURVE public key, by member name
    curve_public_keys: dict[str, str] | None = None
    reconnect_ivl_ms: int = Field(default=100, ge=1)
    reconnect_ivl_max_ms: int = Field(default=2000, ge=0)
    heartbeat_ivl_ms: int = Field(default=1000, ge=0)
    #: frames queued for each subscriber before new ones are dropped for it
    sndhwm: int = Field(default=1000, ge=1)
    #: frames queued from each peer before TCP pushes back (at most this many
    #: ``max_message_bytes`` frames per peer are held in memory)
    rcvhwm: int = Field(default=16, ge=1)
    #: largest frame accepted from a peer; a larger one resets that peer's link
    max_message_bytes: int = Field(default=MAX_FRAME, ge=1024)

    @field_validator("bind")
    @classmethod
    def _bind(cls, v: str) -> str:
        return check_address(v, bind=True)

    @field_validator("peers")
    @classmethod
    def _peers(cls, v: dict[str, str]) -> dict[str, str]:
        for name, address in v.items():
            try:
                check_address(address, bind=False)
            except ValueError as exc:
                raise ValueError(f"peer {name!r}: {exc}") from None
        return v

    @field_validator("curve_public_keys")
    @classmethod
    def _public_keys(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        for name, key in (v or {}).items():
            try:
                decode_curve_key(key)
            except ValueError as exc:
                raise ValueError(f"member {name!r}: {exc}") from None
        return v

    @model_validator(mode="after")
    def _curve_pair(self) -> ZmqOptions:
        if (self.curve_secret_key_file is None) != (self.curve_public_keys is None):
            raise ValueError("give curve_secret_key_file and curve_public_keys together")
        return self
