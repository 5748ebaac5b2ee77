"""A 2-of-3 federation over Kafka with TLS and with mutual TLS, end to end: kafka-python's
SSL through stunnel (Debian's stunnel4) in front of a real Tansu broker that advertises
stunnel's port; and a member whose TLS cannot work says so in one line naming the option,
in ``oceanfed check`` and in ``oceanfed run``'s log, quickly and without a traceback."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from oceanfed_devnet.launcher import LocalFederation
from testsupport.cli import oceanfed
from testsupport.federation import fast_rounds, verify_chain
from testsupport.tls import CertPair, Pki, TlsKafka, tls_kafka_missing

from .conftest import verify_sign_state

pytestmark = [pytest.mark.slow, pytest.mark.kafka]

MISSING = tls_kafka_missing()
needs_tls_kafka = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")

TARGET = 6
BLOCK_TIME = 0.3


def _federation(tmp_path: Path, kafka: TlsKafka, certs: dict[str, CertPair] | None) -> LocalFederation:
    fed = LocalFederation(tmp_path / "fed", 3, 2, messenger="kafka", kafka_bootstrap=kafka.bootstrap,
                          block_time=BLOCK_TIME, rounds=fast_rounds(0.25))
    for name in fed.members:
        client = certs[name] if certs else None
        fed.set_messenger(name, {"driver": "kafka", **kafka.messenger_options(client)})
    return fed


def _run_to(fed: LocalFederation, target: int) -> None:
    fed.start()
    reached = fed.wait_height(target, timeout=90)
    assert reached >= target, f"only {reached} blocks: {fed.log_tail('m0', 20)}"
    for name in fed.members:
        log = (fed.dir / "logs" / f"{name}.log").read_text(errors="replace")
        assert "kafka messenger connected to" in log, f"{name}: {log[-2000:]}"


def _stop_and_verify(fed: LocalFederation) -> None:
    for name in fed.members:
        if fed.running(name):
            assert fed.stop(name) == 0, f"{name} did not stop cleanly: {fed.log_tail(name)}"
        assert "Traceback" not in (fed.dir / "logs" / f"{name}.log").read_text(errors="replace")
    blocks = verify_chain(fed)
    assert len(blocks) - 1 >= TARGET
    verify_sign_state(fed, blocks)


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    if MISSING:
        pytest.skip(MISSING)
    return Pki(tmp_path / "pki")


@pytest.fixture
def tls_kafka(tmp_path: Path, pki: Pki) -> Iterator[TlsKafka]:
    with TlsKafka(tmp_path / "kafka", pki) as kafka:
        yield kafka


@pytest.fixture
def mtls_kafka(tmp_path: Path, pki: Pki) -> Iterator[TlsKafka]:
    with TlsKafka(tmp_path / "kafka", pki, mutual=True) as kafka:
        yield kafka


@needs_tls_kafka
def test_federation_over_tls(tmp_path: Path, tls_kafka: TlsKafka) -> None:
    fed = _federation(tmp_path, tls_kafka, None)
    try:
        _run_to(fed, TARGET)
        _stop_and_verify(fed)
    finally:
        fed.close()
    # the members really went through stunnel: it logged their TLS connections
    assert "connected remote server" in (tls_kafka.dir / "stunnel.log").read_text()


@needs_tls_kafka
def test_federation_over_mutual_tls_and_bad_certificates(
    tmp_path: Path, pki: Pki, mtls_kafka: TlsKafka
) -> None:
    certs = {name: pki.client(name) for name in ("m0", "m1", "m2")}
    fed = _federation(tmp_path, mtls_kafka, certs)
    try:
        _run_to(fed, TARGET)
        # m2 leaves; m0 and m1 are still a quorum. Each broken TLS setting of m2's is
        # named in one line by `check` and by `run`, which exits instead of hanging.
        assert fed.stop("m2") == 0, fed.log_tail("m2")
        other = Pki(tmp_path / "other-pki", "other-ca")
        cases = {
            "wrong CA": (mtls_kafka.messenger_options(certs["m2"], ca=other.ca.cert),
                         "messenger.ssl_cafile: the certificate of"),
            "expired client certificate": (
                mtls_kafka.messenger_options(pki.client("m2-expired", expired=True)),
                "messenger.ssl_certfile: 127.0.0.1:"),
            "client certificate from another CA": (
                mtls_kafka.messenger_options(other.client("m2-other")),
                "messenger.ssl_certfile: 127.0.0.1:"),
            "no client certificate": (mtls_kafka.messenger_options(None),
                                      "messenger.ssl_certfile: 127.0.0.1:"),
        }
        config = str(fed.layout.fed_toml("m2"))
        seen: dict[str, str] = {}
        took: dict[str, float] = {}
        for case, (options, expected) in cases.items():
            fed.set_messenger("m2", {"driver": "kafka", "connect_timeout_ms": 3000, **options})
            checked = oceanfed("check", "--config", config, timeout=60)
            assert checked.returncode != 0, (case, checked.stdout)
            lines = [x for x in (checked.stdout + checked.stderr).splitlines() if expected in x]
            assert len(lines) == 1, (case, checked.stdout, checked.stderr)
            assert "Traceback" not in checked.stdout + checked.stderr
            t0 = time.monotonic()
            ran = subprocess.run(
                [sys.executable, "-m", "oceanfed.cli.main", "run", "--config", config],
                capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
            )
            took[case] = time.monotonic() - t0
            assert ran.returncode != 0, (case, ran.stdout[-2000:], ran.stderr[-2000:])
            out = ran.stdout + ran.stderr
            assert "Traceback" not in out, (case, out[-3000:])
            named = [x for x in out.splitlines() if expected in x]
            assert len(named) == 1, (case, out[-3000:])
            seen[case] = named[-1]
        for case, line in seen.items():
            print(f"{case} ({took[case]:.1f} s): {line}")
        # mutual TLS said why: the expired and foreign certificates are told apart
        assert "expired" in seen["expired client certificate"]
        assert "requires a client certificate" in seen["no client certificate"]
        assert fed.running("m0") and fed.running("m1")
        _stop_and_verify(fed)
    finally:
        fed.close()
