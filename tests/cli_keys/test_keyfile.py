"""Private key files: hex and WIF, owner-only modes, atomic writes, one-line errors."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from oceanfed.crypto import CURVE_ORDER, pubkey_of
from oceanfed.errors import ConfigError
from oceanfed.keyfile import (
    generate_private_key,
    parse_private_key,
    read_private_key,
    read_secret_file,
    resolve_path,
    write_private_key,
    write_secret_file,
)


def _put(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_roundtrip_is_0600_and_leaves_no_temp_file(tmp_path: Path) -> None:
    key = generate_private_key()
    target = tmp_path / "block.key"
    old = os.umask(0)
    try:
        write_private_key(target, key)
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_text() == key.hex() + "\n"
    assert read_private_key(target) == key
    assert sorted(p.name for p in tmp_path.iterdir()) == ["block.key"]


def test_refuses_overwrite_unless_forced(tmp_path: Path) -> None:
    target = tmp_path / "k"
    first, second = generate_private_key(), generate_private_key()
    write_private_key(target, first)
    with pytest.raises(ConfigError, match=r"k: file exists; refusing to overwrite"):
        write_private_key(target, second)
    assert read_private_key(target) == first
    write_private_key(target, second, force=True)
    assert read_private_key(target) == second
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k"]


def test_write_into_missing_directory_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        write_private_key(tmp_path / "nope" / "k", generate_private_key())
    assert "nope/k: cannot write key file" in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("field", ["wif_testnet_0xef", "wif_main_0x80", "privkey_hex"])
def test_reads_hex_and_wif(tmp_path: Path, vector_keys: list[dict[str, str]], field: str) -> None:
    for k in vector_keys:
        path = _put(tmp_path / f"key{k['index']}", k[field] + "\n")
        key = read_private_key(path)
        assert key.hex() == k["privkey_hex"]
        assert pubkey_of(key).hex() == k["pubkey_hex"]


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o666, 0o700 | 0o004])
def test_refuses_group_or_other_access(tmp_path: Path, mode: int) -> None:
    path = _put(tmp_path / "loose.key", generate_private_key().hex(), mode)
    with pytest.raises(ConfigError) as err:
        read_private_key(path)
    msg = str(err.value)
    assert str(path) in msg and f"mode {mode:04o}" in msg and "0600" in msg


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_accepts_owner_only_modes(tmp_path: Path, mode: int) -> None:
    key = generate_private_key()
    assert read_private_key(_put(tmp_path / "k", key.hex(), mode)) == key


SECRETISH = "ab" * 31 + "zz"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "is empty"),
        ("   \n", "is empty"),
        (SECRETISH, "malformed private key file"),
        ("ab" * 31, "malformed private key file"),
        ("00" * 32, "out of range"),
        (f"{CURVE_ORDER:064x}", "out of range"),
        ("11" * 32 + "\n" + "22" * 32, "on one line"),
        # a WIF with its last character changed: checksum fails
        ("cS1QbpHscQS5ZTVMTdnUg9LKgrwVfdMDV1ocYttREuf4dzGS4YiN", "checksum"),
        # a valid base58check payload with version 0x6f (a testnet address prefix)
        ("4iu9XZ7kKBrHaP9LMWsSoYvcSjfZLQrvPzLHq6zy1P5QcPah3VD", "version 0x"),
    ],
)
def test_malformed_files_give_one_line_without_content(
    tmp_path: Path, content: str, expected: str
) -> None:
    path = _put(tmp_path / "bad.key", content)
    with pytest.raises(ConfigError) as err:
        read_private_key(path)
    msg = str(err.value)
    assert expected in msg and str(path) in msg
    assert "\n" not in msg
    for token in content.split():
        assert token not in msg


def test_missing_file_and_directory_and_symlink(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing.key: private key file not found"):
        read_private_key(tmp_path / "missing.key")
    with pytest.raises(ConfigError, match=r"not a regular file"):
        read_private_key(tmp_path)
    link = tmp_path / "link.key"
    link.symlink_to(tmp_path / "gone.key")
    with pytest.raises(ConfigError, match=r"link.key: private key file is a symbolic link to .*gone.key, which is missing"):
        read_private_key(link)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path: Path) -> None:
    path = _put(tmp_path / "k", generate_private_key().hex(), 0o000)
    with pytest.raises(ConfigError, match=r"cannot read private key file"):
        read_private_key(path)


def test_parse_private_key_never_echoes_input() -> None:
    for bad in ("not a key", "g" * 64, "1" * 51):
        with pytest.raises(ValueError) as err:
            parse_private_key(bad)
        assert bad not in str(err.value)


def test_secret_text_files(tmp_path: Path) -> None:
    path = tmp_path / "curve.key"
    write_secret_file(path, "some-secret-text")
    assert read_secret_file(path, "CURVE secret key") == "some-secret-text"
    path.chmod(0o644)
    with pytest.raises(ConfigError, match=r"curve.key: CURVE secret key file has mode 0644"):
        read_secret_file(path, "CURVE secret key")


def test_config_paths_resolve_against_the_config_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/op")
    assert resolve_path("/etc/fed", "keys/block.key") == Path("/etc/fed/keys/block.key")
    assert resolve_path("/etc/fed", "/var/lib/block.key") == Path("/var/lib/block.key")
    assert resolve_path("/etc/fed", "~/block.key") == Path("/home/op/block.key")
