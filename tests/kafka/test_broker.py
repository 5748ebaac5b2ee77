"""The Tansu launcher used by tests, the demo and the bench."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from oceanfed.errors import MessengerError
from oceanfed_kafka.broker import ENV_BINARY, TansuBroker, find_tansu

from .conftest import needs_broker

pytestmark = pytest.mark.kafka


def _accepts(bootstrap: str) -> bool:
    host, port = bootstrap.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            return True
    except OSError:
        return False


@needs_broker
def test_start_kill_restart_on_the_same_port(tmp_path: Path) -> None:
    log = tmp_path / "tansu.log"
    broker = TansuBroker(log_path=log)
    with pytest.raises(MessengerError, match="not started"):
        _ = broker.bootstrap
    with broker:
        first = broker.bootstrap
        assert broker.running and _accepts(first)
        broker.kill()
        assert not broker.running and not _accepts(first)
        broker.start()
        assert broker.bootstrap == first and _accepts(first)
    assert not broker.running and not _accepts(first)
    assert log.stat().st_size > 0


@needs_broker
def test_two_brokers_get_different_ports() -> None:
    with TansuBroker() as a, TansuBroker() as b:
        assert a.bootstrap != b.bootstrap
        assert _accepts(a.bootstrap) and _accepts(b.bootstrap)


def test_missing_binary_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    not_exe = tmp_path / "tansu"
    not_exe.write_text("")
    monkeypatch.setenv(ENV_BINARY, str(not_exe))
    with pytest.raises(MessengerError, match=rf"^{ENV_BINARY}=.*tansu: not an executable file$"):
        find_tansu()
    with pytest.raises(MessengerError):
        TansuBroker().start()


@needs_broker
def test_bundled_binary_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_BINARY, raising=False)
    path = find_tansu()
    assert Path(path).name == "tansu" and Path(path).is_file()
