"""The ``[messenger]`` options of the Kafka driver (validated by pydantic)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from oceanfed.interfaces import PluginOptions
from oceanfed.keyfile import SecretFile

_HOSTPORT = re.compile(
    r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9._-]+)):(?P<port>\d{1,5})$"
)
_TOPIC_PART = re.compile(r"^[A-Za-z0-9._-]+$")


def parse_hostport(value: str) -> tuple[str, int]:
    """Split ``host:port`` (or ``[v6]:port``); raise ValueError saying what was expected."""
    m = _HOSTPORT.match(value.strip())
    if not m:
        raise ValueError(f"expected host:port, got {value!r}")
    port = int(m["port"])
    if not 0 < port < 65536:
        raise ValueError(f"port out of range in {value!r} (expected 1-65535)")
    return m["v6"] or m["host"], port


class KafkaOptions(PluginOptions):
    """Everything the Kafka messenger reads from ``[messenger]``; nothing is hard-coded.

    Paths are relative to the config file. Secrets are named by file or environment
    variable (``*_file`` / ``*_env``), never written in the TOML.
    """

    #: seed brokers, ``["kafka-1.dc1:9092", "kafka-1.dc2:9092"]``
    bootstrap_servers: list[str] = Field(min_length=1)
    #: topics are ``<prefix>.<chain>.proposals`` and ``<prefix>.<chain>.votes``
    topic_prefix: str = "oceanfed"
    #: default ``oceanfed-<chain>-<member name>``
    client_id: str | None = Field(default=None, min_length=1, max_length=200)

    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    #: the private key of ``ssl_certfile``: a secret file (owner-only, like every secret)
    ssl_keyfile: SecretFile | None = None
    #: file holding the password of ``ssl_keyfile``, if it is encrypted
    ssl_password_file: SecretFile | None = None
    ssl_check_hostname: bool = True
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password_file: SecretFile | None = None
    sasl_password_env: str | None = None

    #: producer acknowledgements: 0, 1 (leader) or "all" (in-sync replicas)
    acks: Literal[0, 1, "all"] = 1
    linger_ms: int = Field(default=0, ge=0, le=1000)
    compression: Literal["none", "gzip"] = "none"
    #: largest frame produced and fetched (a proposal carries a whole block)
    max_message_bytes: int = Field(default=1_048_576, ge=1024)
    #: time allowed at start to reach the cluster
    connect_timeout_ms: int = Field(default=5000, gt=0)
    request_timeout_ms: int = Field(default=3000, gt=0)
    #: a frame not acknowledged this long after broadcast() is dropped (the core re-sends)
    delivery_timeout_ms: int = Field(default=5000, gt=0)
    #: longest a send may wait for metadata before the frame is dropped
    max_block_ms: int = Field(default=1000, gt=0)
    reconnect_backoff_max_ms: int = Field(default=1000, ge=50)
    fetch_max_wait_ms: int = Field(default=100, ge=0)
    #: how often the consumer checks the brokers and the topics' partitions
    health_interval_ms: int = Field(default=1000, ge=100)
    #: frames waiting for the producer; beyond this, broadcast() drops
    send_queue: int = Field(default=1000, ge=1)

    #: create missing topics at start and after an outage (needs CreateTopics rights)
    create_topics: bool = True
    partitions: int = Field(default=1, ge=1)
    #: -1 means the broker's default.replication.factor
    replication_factor: int = Field(default=-1, ge=-1)
    #: drop frames for heights (and prevotes for rounds) this member has already left
    skip_stale: bool = True
    #: level of kafka-python's own logger, which repeats on every reconnect attempt
    client_log_level: Literal["debug", "info", "warning", "error", "critical"] = "critical"

    @field_validator("bootstrap_servers", mode="before")
    @classmethod
    def _servers_list(cls, v: object) -> object:
        if isinstance(v, str):
            raise ValueError('expected a list of "host:port" strings, e.g. ["kafka-1:9092"]')
        return v

    @field_validator("bootstrap_servers")
    @classmethod
    def _servers(cls, v: list[str]) -> list[str]:
        for item in v:
            parse_hostport(item)
        return [s.strip() for s in v]

    @field_validator("topic_prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if not _TOPIC_PART.match(v) or len(v) > 100:
            raise ValueError("expected 1-100 characters from A-Z a-z 0-9 . _ -")
        return v

    @field_validator("replication_factor")
    @classmethod
    def _rf(cls, v: int) -> int:
        if v == 0:
            raise ValueError("expected -1 (broker default) or at least 1")
        return v

    @model_validator(mode="after")
    def _security(self) -> KafkaOptions:
        tls = self.security_protocol in ("SSL", "SASL_SSL")
        sasl = self.security_protocol.startswith("SASL_")
        tls_fields = ("ssl_cafile", "ssl_certfile", "ssl_keyfile", "ssl_password_file")
        if not tls:
            for name in tls_fields:
                if getattr(self, name) is not None:
                    raise ValueError(f"{name} needs security_protocol SSL or SASL_SSL")
        if self.ssl_keyfile and not self.ssl_certfile:
            raise ValueError("ssl_keyfile needs ssl_certfile")
        sasl_fields = ("sasl_mechanism", "sasl_username", "sasl_password_file", "sasl_password_env")
        if not sasl:
            for name in sasl_fields:
                if getattr(self, name) is not None:
                    raise ValueError(f"{name} needs security_protocol SASL_PLAINTEXT or SASL_SSL")
            return self
        if self.sasl_mechanism is None:
            raise ValueError(f"security_protocol {self.security_protocol} needs sasl_mechanism")
        if not self.sasl_username:
            raise ValueError(f"sasl_mechanism {self.sasl_mechanism} needs sasl_username")
        if (self.sasl_password_file is None) == (self.sasl_password_env is None):
            raise ValueError("give exactly one of sasl_password_file, sasl_password_env")
        return self
