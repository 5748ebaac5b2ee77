"""Turn :class:`KafkaOptions` into kafka-python client settings, and kafka errors into one line.

Files are checked here (relative to the config file) so that a missing CA, certificate or
key is reported as ``messenger.ssl_cafile: file not found: …`` before any connection.
Secrets are read from their file or environment variable and kept out of every message.
"""

from __future__ import annotations

import os
import socket
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafka import errors as kerr
from oceanfed.errors import ConfigError, MessengerError
from oceanfed.keyfile import allows_group_readable, read_secret_file
from oceanfed_kafka.options import KafkaOptions, parse_hostport


def _path(base_dir: str, name: str, value: str) -> str:
    p = Path(os.path.expanduser(value))
    if not p.is_absolute():
        p = Path(base_dir) / p
    if not p.is_file():
        raise ConfigError(f"messenger.{name}: file not found: {p}")
    if not os.access(p, os.R_OK):
        raise ConfigError(f"messenger.{name}: file not readable: {p}")
    return str(p)


def _secret_file(base_dir: str, name: str, value: str) -> str:
    path = Path(os.path.expanduser(value))
    if not path.is_absolute():
        path = Path(base_dir) / path
    try:
        secret = read_secret_file(
            path, "password", allow_group_readable=allows_group_readable(value)
        )
    except ConfigError as exc:
        raise ConfigError(f"messenger.{name}: {exc}") from None
    if not secret:
        raise ConfigError(f"messenger.{name}: file is empty: {path}")
    return secret


@dataclass(frozen=True)
class ClientSettings:
    """Resolved connection settings shared by the producer, consumer and admin client."""

    common: dict[str, Any] = field(repr=False)
    servers: str

    def describe(self) -> str:
        return self.servers


def build_settings(opts: KafkaOptions, base_dir: str, client_id: str) -> ClientSettings:
    """Check files and secrets and return the kafka-python keyword arguments."""
    common: dict[str, Any] = {
        "bootstrap_servers": list(opts.bootstrap_servers),
        "client_id": client_id,
        "security_protocol": opts.security_protocol,
        "request_timeout_ms": opts.request_timeout_ms,
        "bootstrap_timeout_ms": opts.connect_timeout_ms,
        "reconnect_backoff_max_ms": opts.reconnect_backoff_max_ms,
    }
    if opts.security_protocol in ("SSL", "SASL_SSL"):
        common["ssl_check_hostname"] = opts.ssl_check_hostname
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            value = getattr(opts, name)
            if value is not None:
                common[name] = _path(base_dir, name, value)
        if opts.ssl_password_file is not None:
            common["ssl_password"] = _secret_file(
                base_dir, "ssl_password_file", opts.ssl_password_file
            )
        _check_tls_files(common)
    if opts.security_protocol.startswith("SASL_"):
        common["sasl_mechanism"] = opts.sasl_mechanism
        common["sasl_plain_username"] = opts.sasl_username
        if opts.sasl_password_file is not None:
            password = _secret_file(base_dir, "sasl_password_file", opts.sasl_password_file)
        else:
            env = opts.sasl_password_env or ""
            password = os.environ.get(env, "")
            if not password:
                raise ConfigError(
                    f"messenger.sasl_password_env: environment variable {env} is not set"
                )
        common["sasl_plain_password"] = password
    return ClientSettings(common=common, servers=", ".join(opts.bootstrap_servers))


def _tls_context(common: dict[str, Any]) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = bool(common.get("ssl_check_hostname", True))
    if "ssl_cafile" in common:
        ctx.load_verify_locations(cafile=common["ssl_cafile"])
    if "ssl_certfile" in common:
        ctx.load_cert_chain(
            common["ssl_certfile"], common.get("ssl_keyfile"), password=common.get("ssl_password")
        )
    return ctx


def preflight(settings: ClientSettings, timeout_ms: int) -> None:
    """Open a TCP (and TLS) connection to a bootstrap server, or raise one clear line.

    Done before kafka-python connects: its bootstrap can wait for ever on a TLS handshake
    with a plaintext listener, and its errors name no setting.
    """
    common = settings.common
    tls = common["security_protocol"] in ("SSL", "SASL_SSL")
    timeout = timeout_ms / 1000
    refused: list[str] = []
    for server in common["bootstrap_servers"]:
        host, port = parse_hostport(server)
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except socket.gaierror:
            refused.append(f"{server}: name not resolved")
            continue
        except OSError as exc:
            refused.append(f"{server}: {_os_reason(exc)}")
            continue
        if not tls:
            sock.close()
            return
        try:
            with _tls_context(common).wrap_socket(sock, server_hostname=host):
                return
        except ssl.SSLCertVerificationError as exc:
            raise MessengerError(
                f"messenger.ssl_cafile: the certificate of {server} is not trusted ({exc.verify_message})"
            ) from None
        except (ssl.SSLError, OSError) as exc:
            raise MessengerError(
                f"messenger.security_protocol: TLS handshake with {server} failed "
                f"({_reason(exc)}); is it a TLS listener?"
            ) from None
        finally:
            sock.close()
    raise MessengerError(
        f"messenger.bootstrap_servers: no Kafka broker reachable ({'; '.join(refused)})"
    )


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    return (exc.strerror or str(exc)).lower()


def _check_tls_files(common: dict[str, Any]) -> None:
    """Load the CA and the certificate/key pair now, so a bad file is named at start."""
    ctx = ssl.create_default_context()
    if "ssl_cafile" in common:
        try:
            ctx.load_verify_locations(cafile=common["ssl_cafile"])
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(
                f"messenger.ssl_cafile: not a PEM CA certificate: {common['ssl_cafile']} ({_reason(exc)})"
            ) from None
    if "ssl_certfile" in common:
        try:
            ctx.load_cert_chain(
                common["ssl_certfile"],
                common.get("ssl_keyfile"),
                password=common.get("ssl_password"),
            )
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(
                "messenger.ssl_certfile: certificate and key do not load: "
                f"{common['ssl_certfile']} ({_reason(exc)})"
            ) from None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason)
    return str(exc) or type(exc).__name__


def explain(exc: BaseException, settings: ClientSettings, timeout_ms: int) -> MessengerError:
    """A one-line MessengerError for a failure to reach or use the cluster."""
    if isinstance(exc, kerr.KafkaTimeoutError | kerr.KafkaConnectionError):
        return MessengerError(
            f"messenger.bootstrap_servers: no Kafka broker reachable at {settings.servers} "
            f"within {timeout_ms / 1000:g} s"
        )
    if isinstance(exc, ssl.SSLError):
        return MessengerError(
            f"messenger.ssl_cafile: TLS handshake with {settings.servers} failed ({_reason(exc)})"
        )
    if isinstance(exc, kerr.SaslAuthenticationFailedError | kerr.IllegalSaslStateError):
        return MessengerError(
            f"messenger.sasl_username: SASL authentication to {settings.servers} failed"
        )
    if isinstance(exc, kerr.TopicAuthorizationFailedError | kerr.ClusterAuthorizationFailedError):
        return MessengerError(
            f"messenger: not authorised on {settings.servers} ({type(exc).__name__}); "
            "grant the topics' ACLs or pre-create them and set create_topics = false"
        )
    return MessengerError(f"messenger: Kafka at {settings.servers}: {type(exc).__name__}: {exc}")
