"""Turn :class:`KafkaOptions` into kafka-python client settings, and kafka errors into one line.

Files are checked here (relative to the config file) so that a missing CA, certificate or
key is reported as ``messenger.ssl_cafile: file not found: …`` before any connection.
Secrets are read from their file or environment variable and kept out of every message.
"""

from __future__ import annotations

import os
import socket
import ssl
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafka import errors as kerr
from oceanfed.errors import ConfigError, MessengerError
from oceanfed.keyfile import allows_group_readable, read_secret_file, resolve_path
from oceanfed_kafka.options import KafkaOptions, parse_hostport


def _path(base_dir: str, name: str, value: str) -> str:
    p = resolve_path(base_dir, value)
    if not p.is_file():
        raise ConfigError(f"messenger.{name}: file not found: {p}")
    if not os.access(p, os.R_OK):
        raise ConfigError(f"messenger.{name}: file not readable: {p}")
    return str(p)


def _read_secret(base_dir: str, name: str, value: str, what: str) -> tuple[Path, str]:
    """The path of secret file ``messenger.<name>`` and its text, read like every secret."""
    path = resolve_path(base_dir, value)
    try:
        return path, read_secret_file(path, what, allow_group_readable=allows_group_readable(value))
    except ConfigError as exc:
        raise ConfigError(f"messenger.{name}: {exc}") from None


def _secret_path(base_dir: str, name: str, value: str) -> str:
    """The path of a secret file that kafka-python reads itself, checked like every secret."""
    return str(_read_secret(base_dir, name, value, "TLS private key")[0])


def _secret_file(base_dir: str, name: str, value: str) -> str:
    path, secret = _read_secret(base_dir, name, value, "password")
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
        for name in ("ssl_cafile", "ssl_certfile"):
            value = getattr(opts, name)
            if value is not None:
                common[name] = _path(base_dir, name, value)
        if opts.ssl_keyfile is not None:  # a private key: held to the secret-file rules
            common["ssl_keyfile"] = _secret_path(base_dir, "ssl_keyfile", opts.ssl_keyfile)
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
    """Reach a bootstrap server (TCP, TLS, then one Kafka request), or raise one clear line.

    Done before kafka-python connects: its bootstrap can wait for ever on a TLS handshake
    with a plaintext listener, and its errors name no setting. The Kafka request (an
    ``ApiVersions``) matters with TLS 1.3: a server that refuses the client's certificate
    (missing, expired, from another CA) says so only after the handshake, in an alert that
    arrives with the first answer.
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
        try:
            if not tls:
                _ask_api_versions(sock, server, tls=False, timeout=timeout)
                return
            try:
                conn = _tls_context(common).wrap_socket(sock, server_hostname=host)
            except ssl.SSLCertVerificationError as exc:
                raise _untrusted(server, exc) from None
            except (ssl.SSLError, OSError) as exc:
                raise _tls_refused(server, exc, common, handshake=True) from None
            with conn:
                try:
                    _await_tickets(conn, min(timeout, _TICKET_WAIT))
                    _ask_api_versions(conn, server, tls=True, timeout=timeout)
                except (ssl.SSLError, ConnectionError) as exc:
                    raise _tls_refused(server, exc, common, handshake=False) from None
            return
        finally:
            sock.close()
    raise MessengerError(
        f"messenger.bootstrap_servers: no Kafka broker reachable ({'; '.join(refused)})"
    )


#: longest wait after a TLS 1.3 handshake for the server's verdict on our certificate
_TICKET_WAIT = 2.0


def _await_tickets(conn: ssl.SSLSocket, limit: float) -> None:
    """After a TLS 1.3 handshake, wait for the server's session ticket or its alert.

    A TLS 1.3 server checks the client's certificate after the client has finished its
    handshake, then sends session tickets (accepted) or an alert (refused). Reading the
    alert before sending anything keeps it from being lost when the server closes with our
    request unread. A server that sends no tickets costs ``limit`` seconds here, no more.
    """
    if conn.version() != "TLSv1.3":
        return  # TLS 1.2 checks the client's certificate inside the handshake
    deadline = time.monotonic() + limit
    conn.settimeout(0.05)
    while time.monotonic() < deadline:
        session = conn.session
        if session is not None and session.has_ticket:
            return
        try:
            data = conn.recv(1)
        except TimeoutError:
            continue
        if not data:
            raise ConnectionResetError("closed after the TLS handshake")
        return  # a server talking first is not Kafka; the request below says so


#: ApiVersions v0 (api key 18), correlation id 1, client id "oceanfed-check"
_API_VERSIONS = struct.pack(">hhih", 18, 0, 1, 14) + b"oceanfed-check"


def _ask_api_versions(sock: socket.socket, server: str, *, tls: bool, timeout: float) -> None:
    """Send one ApiVersions request and read the start of its answer."""
    sock.settimeout(timeout)
    try:
        sock.sendall(struct.pack(">i", len(_API_VERSIONS)) + _API_VERSIONS)
        head = b""
        while len(head) < 8:
            chunk = sock.recv(8 - len(head))
            if not chunk:
                break
            head += chunk
    except TimeoutError:
        raise MessengerError(
            f"messenger.bootstrap_servers: {server} accepted the connection but did not "
            f"answer a Kafka request within {timeout:g} s"
        ) from None
    except ssl.SSLError:
        raise
    except OSError as exc:
        if tls and isinstance(exc, ConnectionError):
            raise
        head = b""
    if len(head) < 8 or struct.unpack(">ii", head)[1] != 1:
        hint = (
            "is it a TLS listener? set security_protocol = \"SSL\""
            if not tls
            else "is it a Kafka broker?"
        )
        raise MessengerError(
            f"messenger.security_protocol: {server} closed the connection without a Kafka "
            f"answer ({hint})"
        )


def _untrusted(server: str, exc: ssl.SSLCertVerificationError) -> MessengerError:
    if exc.verify_code == _HOSTNAME_MISMATCH:
        return MessengerError(
            f"messenger.ssl_check_hostname: the certificate of {server} is not for that "
            f"name ({exc.verify_message})"
        )
    return MessengerError(
        f"messenger.ssl_cafile: the certificate of {server} is not trusted ({exc.verify_message})"
    )


_HOSTNAME_MISMATCH = 62  # X509_V_ERR_HOSTNAME_MISMATCH

#: TLS alerts a server sends about the client's certificate, by OpenSSL's reason
_CLIENT_CERT_ALERTS = {
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "requires a client certificate",
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": "refused this member's client certificate: it has expired",
    "SSLV3_ALERT_CERTIFICATE_REVOKED": "refused this member's client certificate: it is revoked",
    "TLSV1_ALERT_UNKNOWN_CA": "does not trust the issuer of this member's client certificate",
    "SSLV3_ALERT_BAD_CERTIFICATE": "refused this member's client certificate",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": "refused this member's client certificate",
    "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE": "refused this member's client certificate",
}


def _tls_refused(
    server: str, exc: BaseException, common: dict[str, Any], *, handshake: bool
) -> MessengerError:
    """One line for a TLS connection the server ended: about our certificate, or not TLS."""
    reason = getattr(exc, "reason", None) or ""
    what = _CLIENT_CERT_ALERTS.get(reason)
    if what is not None or (reason == "SSLV3_ALERT_HANDSHAKE_FAILURE" and "ssl_certfile" not in common):
        what = what or "requires a client certificate"
        if "ssl_certfile" not in common:
            return MessengerError(
                f"messenger.ssl_certfile: {server} {what} (mutual TLS); set ssl_certfile "
                "and ssl_keyfile"
            )
        return MessengerError(
            f"messenger.ssl_certfile: {server} {what} ({common['ssl_certfile']})"
        )
    if not handshake and (
        isinstance(exc, ConnectionError | ssl.SSLEOFError | ssl.SSLZeroReturnError)
    ):
        # the server ended the connection after the handshake without a word: what a TLS
        # proxy does when it refuses the client's certificate (or the lack of one)
        if "ssl_certfile" not in common:
            return MessengerError(
                f"messenger.ssl_certfile: {server} ended the TLS connection before answering; "
                "if it requires a client certificate (mutual TLS), set ssl_certfile and ssl_keyfile"
            )
        return MessengerError(
            f"messenger.ssl_certfile: {server} ended the TLS connection before answering; "
            f"it may refuse this member's client certificate ({common['ssl_certfile']})"
        )
    if handshake:
        return MessengerError(
            f"messenger.security_protocol: TLS handshake with {server} failed "
            f"({_reason(exc)}); is it a TLS listener?"
        )
    return MessengerError(
        f"messenger.security_protocol: {server} ended the TLS connection ({_reason(exc)})"
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
