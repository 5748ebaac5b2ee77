"""Bad configuration gets one clear line naming the field; secrets stay out of messages."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from oceanfed.config import PluginTable, format_validation_error
from oceanfed.errors import ConfigError, MessengerError
from oceanfed.plugins import load_messenger
from oceanfed_kafka.broker import TansuBroker, free_port
from oceanfed_kafka.messenger import KafkaMessenger
from oceanfed_kafka.options import KafkaOptions
from testsupport.tls import self_signed

from .conftest import Fed, Inbox, needs_broker


def option_error(**raw: Any) -> str:
    """The line the CLI prints for a bad ``[messenger]`` table."""
    with pytest.raises(ValidationError) as info:
        KafkaOptions.model_validate(raw)
    return format_validation_error("fed.toml", info.value, prefix="messenger.")


def build(tmp_path: Path, **raw: Any) -> KafkaMessenger:
    opts = KafkaOptions.model_validate({"bootstrap_servers": ["127.0.0.1:9092"], **raw})
    return KafkaMessenger(opts, Fed(3).context(0, base_dir=str(tmp_path)))


@pytest.mark.parametrize(
    ("servers", "expected"),
    [
        ("kafka:9092", "expected a list"),
        (["kafka"], "expected host:port, got 'kafka'"),
        (["kafka:99999"], "port out of range"),
        (["kafka:9092", "bad host:1"], "expected host:port, got 'bad host:1'"),
        ([], "at least 1"),
    ],
)
def test_malformed_bootstrap_list(servers: Any, expected: str) -> None:
    line = option_error(bootstrap_servers=servers)
    assert "\n" not in line
    assert line.startswith("fed.toml: messenger.bootstrap_servers")
    assert expected in line


def test_bootstrap_servers_accepts_names_and_ipv6() -> None:
    opts = KafkaOptions(
        bootstrap_servers=["kafka-1.dc1.example:9093", "[::1]:9092", " 10.0.0.7:9092 "]
    )
    assert opts.bootstrap_servers[2] == "10.0.0.7:9092"
    assert opts.topic_prefix == "oceanfed" and opts.acks == 1 and opts.linger_ms == 0


@pytest.mark.parametrize(
    ("raw", "field", "expected"),
    [
        ({"topic_prefix": "ocean fed"}, "messenger.topic_prefix", "A-Z a-z 0-9"),
        ({"acks": 2}, "messenger.acks", "'all'"),
        ({"bootstrap": ["a:1"]}, "messenger.bootstrap", "unknown key"),
        ({"request_timeout_ms": 0}, "messenger.request_timeout_ms", "greater than 0"),
        ({"ssl_cafile": "ca.pem"}, "messenger", "ssl_cafile needs security_protocol SSL"),
        ({"security_protocol": "SASL_SSL"}, "messenger", "needs sasl_mechanism"),
        (
            {
                "security_protocol": "SASL_PLAINTEXT",
                "sasl_mechanism": "SCRAM-SHA-512",
                "sasl_username": "u",
            },
            "messenger",
            "exactly one of sasl_password_file, sasl_password_env",
        ),
        ({"security_protocol": "TLS"}, "messenger.security_protocol", "'SSL'"),
    ],
)
def test_bad_options_name_the_field(raw: dict[str, Any], field: str, expected: str) -> None:
    line = option_error(bootstrap_servers=["k:9092"], **raw)
    assert "\n" not in line
    assert line.startswith(f"fed.toml: {field}: ")
    assert expected in line


@pytest.mark.parametrize("name", ["ssl_cafile", "ssl_certfile"])
def test_missing_tls_file(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError) as info:
        build(tmp_path, security_protocol="SSL", **{name: "tls/missing.pem"})
    msg = str(info.value)
    assert "\n" not in msg
    assert msg == f"messenger.{name}: file not found: {tmp_path / 'tls' / 'missing.pem'}"


def test_garbage_ca_file(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("not a certificate\n")
    with pytest.raises(
        ConfigError, match=r"^messenger\.ssl_cafile: not a PEM CA certificate: .*ca\.pem"
    ):
        build(tmp_path, security_protocol="SSL", ssl_cafile="ca.pem")


def test_tls_files_that_load(tmp_path: Path) -> None:
    self_signed(tmp_path / "key.pem", tmp_path / "cert.pem", "member")
    m = build(
        tmp_path,
        security_protocol="SSL",
        ssl_cafile="cert.pem",
        ssl_certfile="cert.pem",
        ssl_keyfile="key.pem",
    )
    assert m.settings.common["ssl_keyfile"] == str(tmp_path / "key.pem")
    # a certificate with someone else's key is refused at load time
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-out", str(tmp_path / "other.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    with pytest.raises(
        ConfigError, match=r"^messenger\.ssl_certfile: certificate and key do not load"
    ):
        build(tmp_path, security_protocol="SSL", ssl_certfile="cert.pem", ssl_keyfile="other.pem")


def test_sasl_password_is_read_and_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pw = tmp_path / "kafka.pw"
    pw.write_text("s3cret-pw\n")
    pw.chmod(0o644)  # a password file others can read is refused, like every secret file
    with pytest.raises(ConfigError, match=r"^messenger\.sasl_password_file: .*kafka.pw: password file has mode 0644") as exc:
        build(
            tmp_path,
            security_protocol="SASL_SSL",
            sasl_mechanism="SCRAM-SHA-256",
            sasl_username="fed",
            sasl_password_file="kafka.pw",
        )
    assert "s3cret" not in str(exc.value)
    pw.chmod(0o600)
    m = build(
        tmp_path,
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-256",
        sasl_username="fed",
        sasl_password_file="kafka.pw",
    )
    assert m.settings.common["sasl_plain_password"] == "s3cret-pw"
    assert "s3cret" not in repr(m) + repr(m.settings) + repr(m.opts)
    monkeypatch.delenv("OCEANFED_TEST_KAFKA_PW", raising=False)
    with pytest.raises(
        ConfigError,
        match=r"^messenger\.sasl_password_env: environment variable OCEANFED_TEST_KAFKA_PW is not set$",
    ):
        build(
            tmp_path,
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="PLAIN",
            sasl_username="fed",
            sasl_password_env="OCEANFED_TEST_KAFKA_PW",
        )
    monkeypatch.setenv("OCEANFED_TEST_KAFKA_PW", "env-pw")
    m = build(
        tmp_path,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN",
        sasl_username="fed",
        sasl_password_env="OCEANFED_TEST_KAFKA_PW",
    )
    assert m.settings.common["sasl_plain_password"] == "env-pw"


def test_unreachable_broker(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    m = build(tmp_path, bootstrap_servers=[f"127.0.0.1:{port}"], connect_timeout_ms=800)
    expected = f"messenger.bootstrap_servers: no Kafka broker reachable (127.0.0.1:{port}: connection refused)"
    with pytest.raises(MessengerError) as info:
        m.check()
    assert str(info.value) == expected
    with pytest.raises(MessengerError) as info:
        m.start(Inbox())
    assert str(info.value) == expected
    assert m.stats()["connected"] == 0


@pytest.mark.kafka
@needs_broker
def test_tls_against_a_plaintext_broker_is_one_line(tmp_path: Path) -> None:
    self_signed(tmp_path / "key.pem", tmp_path / "ca.pem", "ca")
    with TansuBroker() as broker:
        m = build(
            tmp_path,
            bootstrap_servers=[broker.bootstrap],
            security_protocol="SSL",
            ssl_cafile="ca.pem",
            connect_timeout_ms=1500,
        )
        with pytest.raises(MessengerError) as info:
            m.start(Inbox())
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(
        f"messenger.security_protocol: TLS handshake with {broker.bootstrap} failed"
    )


@pytest.mark.kafka
@needs_broker
def test_check_and_create_topics_false(tmp_path: Path) -> None:
    with TansuBroker() as broker:
        strict = build(
            tmp_path, bootstrap_servers=[broker.bootstrap], create_topics=False, topic_prefix="pre"
        )
        with pytest.raises(
            MessengerError,
            match=r"^messenger\.create_topics: topic pre\.ocean_test\.proposals does not exist",
        ):
            strict.check()
        with pytest.raises(
            MessengerError,
            match=r"^messenger\.create_topics: topic pre\.ocean_test\.proposals does not exist",
        ):
            strict.start(Inbox())
        creator = build(tmp_path, bootstrap_servers=[broker.bootstrap], topic_prefix="pre")
        assert creator.check().endswith(
            "pre.ocean_test.proposals, pre.ocean_test.votes created at start"
        )
        creator.start(Inbox())
        try:
            line = strict.check()
            assert line == (
                f"kafka {broker.bootstrap} (PLAINTEXT), acks=1: "
                "topics pre.ocean_test.proposals, pre.ocean_test.votes present"
            )
            strict.start(Inbox())
            strict.close()
        finally:
            creator.close()


def table(**raw: Any) -> PluginTable:
    """A ``[messenger]`` table as read from fed.toml."""
    return PluginTable.model_validate({"driver": "kafka", **raw})


def test_loaded_by_driver_name_with_one_line_errors(tmp_path: Path) -> None:
    ctx = Fed(3).context(1, base_dir=str(tmp_path))
    m = load_messenger(table(bootstrap_servers=["k1:9092", "k2:9092"]), ctx)
    assert isinstance(m, KafkaMessenger)
    assert m.settings.common["client_id"] == "oceanfed-ocean_test-m1"
    assert m.topics.names == ("oceanfed.ocean_test.proposals", "oceanfed.ocean_test.votes")
    bad = table(bootstrap_servers="k1:9092,k2:9092")
    with pytest.raises(ConfigError) as info:
        load_messenger(bad, ctx, source="fed.toml")
    assert str(info.value).startswith("fed.toml: messenger.bootstrap_servers: expected a list")
    tls = table(bootstrap_servers=["k:9093"], security_protocol="SSL", ssl_cafile="ca.pem")
    with pytest.raises(ConfigError, match=r"^messenger\.ssl_cafile: file not found: "):
        load_messenger(tls, ctx, source="fed.toml")


def test_tls_private_key_is_a_secret_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ssl_keyfile holds a private key: owner-only like every secret file, or delivered by
    systemd's LoadCredential (a bare name found in $CREDENTIALS_DIRECTORY)."""
    self_signed(tmp_path / "key.pem", tmp_path / "cert.pem", "member")
    key = tmp_path / "key.pem"
    key.chmod(0o644)
    with pytest.raises(ConfigError) as info:
        build(tmp_path, security_protocol="SSL", ssl_certfile="cert.pem", ssl_keyfile="key.pem")
    msg = str(info.value)
    assert msg.startswith("messenger.ssl_keyfile: ") and "mode 0644" in msg and "\n" not in msg
    assert "PRIVATE KEY" not in msg
    key.chmod(0o600)
    build(tmp_path, security_protocol="SSL", ssl_certfile="cert.pem", ssl_keyfile="key.pem")
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "kafka.key").write_bytes(key.read_bytes())
    (creds / "kafka.key").chmod(0o440)  # systemd's credentials are read-only
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    m = build(tmp_path, security_protocol="SSL", ssl_certfile="cert.pem", ssl_keyfile="kafka.key")
    assert m.settings.common["ssl_keyfile"] == str(creds / "kafka.key")
