"""Upstream inflation flags become the [inflation] table; the reissuance key a 0600 file."""

from __future__ import annotations

import stat
from pathlib import Path

import base58

from oceanfed.config import load_config
from oceanfed.crypto import pubkey_of
from oceanfed.keyfile import generate_private_key, read_private_key
from oceanfed.ocean.script import multisig_script
from oceanfed_devnet.launcher import LocalFederation
from oceanfed_devnet.setup import free_ports

from .conftest import check, convert, upstream_args


def wif(key: bytes) -> str:
    """A compressed-key WIF for ocean_test (version 0xef)."""
    return base58.b58encode_check(b"\xef" + key + b"\x01").decode()


def cards(fed: LocalFederation, *indexes: int) -> str:
    return ",".join(f"{i}:{fed.layout.pubkeys[i]}:{pubkey_of(generate_private_key()).hex()}"
                    for i in indexes)


def inflation_args(key: bytes, script: bytes) -> list[str]:
    return ["--inflationrate", "0.0101010101", "--inflationperiod", "1440",
            "--inflationaddress", "2dZRkPX3hrPtuBrmMkbGtxTxsuYYgAaFrXZ",
            "--reissuancescript", script.hex(), "--reissuanceprivkey", wif(key)]


def test_inflation_section_and_key_file(devnet3: LocalFederation, tmp_path: Path) -> None:
    key = generate_private_key()
    others = [generate_private_key() for _ in range(2)]
    script = multisig_script(2, [pubkey_of(k) for k in [others[0], key, others[1]]])
    nodes = [f"127.0.0.1:{p}" for p in free_ports(3)]
    args = upstream_args(devnet3, "m1", 1, *inflation_args(key, script), msgtype="zmq", nodes=nodes)
    out = convert(tmp_path / "fed.toml", args, "--member-card", cards(devnet3, 0, 2))
    assert out.returncode == 0, out.stdout + out.stderr
    cfg = load_config(tmp_path / "fed.toml")
    assert cfg.table("inflation") == {
        "policy": "fixed-rate",
        "rate": 0.0101010101,
        "period": 1440,
        "address": "2dZRkPX3hrPtuBrmMkbGtxTxsuYYgAaFrXZ",
        "reissuance_script": script.hex(),
        "key_file": "reissuance.key",
    }
    key_file = tmp_path / "reissuance.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert read_private_key(key_file) == key
    secret = wif(key)
    assert secret not in (tmp_path / "fed.toml").read_text()
    assert secret not in out.stdout + out.stderr
    assert "warning" not in out.stdout  # the key is one of the reissuance script's keys
    result = check(tmp_path / "fed.toml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_reissuance_key_outside_its_script_is_reported(
    devnet3: LocalFederation, tmp_path: Path
) -> None:
    key = generate_private_key()
    script = multisig_script(1, [pubkey_of(generate_private_key())])
    args = upstream_args(devnet3, "m0", 0, *inflation_args(key, script))
    out = convert(tmp_path / "fed.toml", args, "--member-card", cards(devnet3, 1, 2))
    assert out.returncode == 0, out.stderr
    assert "is not one of the --reissuancescript keys" in " ".join(out.stdout.split())


def test_inflation_needs_its_flags_and_a_valid_key(devnet3: LocalFederation, tmp_path: Path) -> None:
    key = generate_private_key()
    script = multisig_script(1, [pubkey_of(key)])
    args = upstream_args(devnet3, "m0", 0, *inflation_args(key, script))
    no_address = args[: args.index("--inflationaddress")] + args[args.index("--reissuancescript"):]
    out = convert(tmp_path / "fed.toml", no_address)
    assert out.returncode == 1 and "--inflationaddress: required with inflation" in out.stderr
    bad_key = list(args)
    bad_key[-1] = wif(key)[:-3] + "abc"
    out = convert(tmp_path / "fed.toml", bad_key)
    assert out.returncode == 1 and "--reissuanceprivkey: not a valid WIF" in out.stderr
    assert bad_key[-1] not in out.stderr
