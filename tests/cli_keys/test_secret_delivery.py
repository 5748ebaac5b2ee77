"""Secret files as orchestrators deliver them, with real files, modes, owners and links.

One reader (``oceanfed.keyfile.read_secret_file``) decides for every secret: owner-only by
default; a Kubernetes-style symlink chain whose final target is owner-only and ours;
anything not writable by others under ``$CREDENTIALS_DIRECTORY`` (systemd LoadCredential)
or with ``allow_group_readable = true`` (Docker Swarm's 0444). The PKCS#11 PIN and the
Kafka passwords go through the same reader.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from oceanfed.config import format_validation_error, load_config
from oceanfed.crypto import pubkey_of
from oceanfed.errors import ConfigError, SignerError
from oceanfed.keyfile import (
    SecretFile,
    SecretPath,
    generate_private_key,
    read_private_key,
    read_secret_file,
)
from oceanfed.member import transport_key
from oceanfed_pkcs11.options import Pkcs11Options, read_pin

#: a uid that is not ours, for files "owned by someone else" (only root may chown)
OTHER_UID = 65534
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")


def _put(path: Path, text: str, mode: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def _k8s_volume(root: Path, name: str, text: str, mode: int) -> Path:
    """Lay out a Secret volume as the kubelet does: ``name -> ..data/name``,
    ``..data -> ..2026_11_27_14_00_00.1``; return the path the pod reads (``root/name``)."""
    stamp = root / "..2026_11_27_14_00_00.1"
    _put(stamp / name, text, mode)
    (root / "..data").symlink_to(stamp.name)
    (root / name).symlink_to(Path("..data") / name)
    return root / name


# ------------------------------------------------------------------ symbolic links


def test_kubernetes_symlink_chain_to_an_owner_only_file_is_read(tmp_path: Path) -> None:
    key = generate_private_key()
    path = _k8s_volume(tmp_path / "secret", "block.key", key.hex() + "\n", 0o400)
    assert path.is_symlink() and (tmp_path / "secret" / "..data").is_symlink()
    assert read_private_key(path) == key


def test_symlink_to_a_file_others_can_read_is_refused(tmp_path: Path) -> None:
    # Kubernetes' defaultMode is 0644: refused unless the secret opts in
    path = _k8s_volume(tmp_path / "secret", "block.key", generate_private_key().hex(), 0o644)
    with pytest.raises(ConfigError) as err:
        read_private_key(path)
    msg = str(err.value)
    assert str(path) in msg and "a symbolic link to" in msg and "mode 0644" in msg
    assert "allow_group_readable" in msg and "\n" not in msg


@needs_root
def test_symlink_to_a_file_of_another_user_is_refused(tmp_path: Path) -> None:
    key = generate_private_key()
    path = _k8s_volume(tmp_path / "secret", "block.key", key.hex(), 0o400)
    target = path.resolve()
    os.chown(target, OTHER_UID, -1)
    with pytest.raises(ConfigError) as err:
        read_private_key(path)
    msg = str(err.value)
    assert f"owned by uid {OTHER_UID}" in msg and f"(uid {os.geteuid()})" in msg
    assert str(target) in msg
    os.chown(target, os.geteuid(), -1)
    assert read_private_key(path) == key


@needs_root
def test_a_plain_owner_only_file_of_another_user_is_still_read(tmp_path: Path) -> None:
    # the strict default is unchanged: only links must end at a file of our own
    key = generate_private_key()
    path = _put(tmp_path / "k", key.hex(), 0o600)
    os.chown(path, OTHER_UID, -1)
    assert read_private_key(path) == key


def test_link_to_a_directory_is_not_a_secret(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "link").symlink_to("d")
    with pytest.raises(ConfigError, match=r"link: secret key file is not a regular file"):
        read_secret_file(tmp_path / "link")


# ------------------------------------------------------------------ allow_group_readable


@pytest.mark.parametrize("mode", [0o444, 0o440, 0o644, 0o400])
def test_allow_group_readable_accepts_files_others_can_read(tmp_path: Path, mode: int) -> None:
    key = generate_private_key()
    path = _put(tmp_path / "k", key.hex(), mode)
    if mode & 0o077:
        with pytest.raises(ConfigError, match=f"mode {mode:04o}"):
            read_private_key(path)
    assert read_private_key(path, allow_group_readable=True) == key


@pytest.mark.parametrize("mode", [0o664, 0o646, 0o666])
def test_allow_group_readable_never_accepts_files_others_can_write(
    tmp_path: Path, mode: int
) -> None:
    path = _put(tmp_path / "k", generate_private_key().hex(), mode)
    with pytest.raises(ConfigError) as err:
        read_private_key(path, allow_group_readable=True)
    msg = str(err.value)
    assert f"mode {mode:04o}" in msg and "others than its owner may write it" in msg


def test_allow_group_readable_with_a_symlink_to_a_root_owned_0444_file(tmp_path: Path) -> None:
    key = generate_private_key()
    path = _k8s_volume(tmp_path / "secret", "k", key.hex(), 0o444)
    if os.geteuid() == 0:
        os.chown(path.resolve(), OTHER_UID, -1)
    with pytest.raises(ConfigError):
        read_private_key(path)
    assert read_private_key(path, allow_group_readable=True) == key


class _Holder(BaseModel):
    key_file: SecretFile
    other: SecretFile | None = None


def test_secret_file_in_the_config_is_a_path_or_a_table(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    plain = _Holder.model_validate({"key_file": "k"}).key_file
    assert plain == "k" and isinstance(plain, SecretPath) and not plain.allow_group_readable
    table = _Holder.model_validate({"key_file": {"path": "/run/secrets/k",
                                                 "allow_group_readable": True}}).key_file
    assert table == "/run/secrets/k" and isinstance(table, SecretPath)
    assert table.allow_group_readable
    # the flag travels with the value into the shared reader
    path = _put(tmp_path / "swarm", "text\n", 0o444)
    assert read_secret_file(SecretPath(str(path), True)) == "text"
    with pytest.raises(ConfigError):
        read_secret_file(SecretPath(str(path)))
    for bad, needle in (
        ({"path": "k", "allow_group_readable": "yes"}, "expected true or false"),
        ({"path": "k", "mode": 420}, "unknown key 'mode'"),
        ({"allow_group_readable": True}, 'missing path = "FILE"'),
        (7, "expected a file path, or a table"),
        ("", "not an empty string"),
    ):
        with pytest.raises(ValidationError) as exc:
            _Holder.model_validate({"key_file": bad})
        line = format_validation_error("fed.toml", exc.value)
        assert line.startswith("fed.toml: key_file: ") and needle in line, line


def _member_config(directory: Path, transport: str) -> Path:
    """A 2-of-3 fed.toml for m0 whose transport_key_file is the TOML text ``transport``;
    m0's transport key (hex) is left in ``transport.hex`` beside it."""
    keys = [(generate_private_key(), generate_private_key()) for _ in range(3)]
    lines = ["[federation]", "threshold = 2"]
    for i, (block, tkey) in enumerate(keys):
        lines += ["[[federation.members]]", f'name = "m{i}"',
                  f'pubkey = "{pubkey_of(block).hex()}"',
                  f'transport_pubkey = "{pubkey_of(tkey).hex()}"']
    lines += ["[member]", 'name = "m0"', f"transport_key_file = {transport}",
              "[node]", 'url = "http://127.0.0.1:1/"',
              "[messenger]", 'driver = "zmq"', 'bind = "tcp://127.0.0.1:1"',
              "[signer]", 'driver = "soft"', 'key_file = "block.key"']
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "fed.toml").write_text("\n".join(lines) + "\n")
    (directory / "transport.hex").write_text(keys[0][1].hex())
    return directory / "fed.toml"


def test_fed_toml_opt_in_reaches_the_transport_key(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    cfg_path = _member_config(
        tmp_path, '{ path = "swarm/transport.key", allow_group_readable = true }'
    )
    key = bytes.fromhex((tmp_path / "transport.hex").read_text())
    _put(tmp_path / "swarm" / "transport.key", key.hex() + "\n", 0o444)
    assert transport_key(load_config(cfg_path, environ={})) == key
    cfg = load_config(_member_config(tmp_path / "strict", '"../swarm/transport.key"'), environ={})
    with pytest.raises(ConfigError, match=r"mode 0444"):
        transport_key(cfg)


# ------------------------------------------------------------------ $CREDENTIALS_DIRECTORY


def test_credentials_directory_is_searched_by_name_and_trusted(
    tmp_path: Path, monkeypatch
) -> None:
    creds = tmp_path / "credentials"
    cfg_path = _member_config(tmp_path / "etc", '"transport.key"')
    key = bytes.fromhex((tmp_path / "etc" / "transport.hex").read_text())
    # systemd makes the directory private to the service; the file may be 0440
    _put(creds / "transport.key", key.hex(), 0o440)
    creds.chmod(0o500)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    cfg = load_config(cfg_path)
    assert cfg.member.transport_key_file == str(creds / "transport.key")
    assert cfg.sources["member.transport_key_file"] == "env CREDENTIALS_DIRECTORY"
    assert transport_key(cfg) == key
    # the same 0440 file outside the credentials directory is refused
    outside = _put(tmp_path / "etc" / "copy.key", key.hex(), 0o440)
    with pytest.raises(ConfigError, match="mode 0440"):
        read_private_key(outside)
    # a name not in the directory is still found beside the config file
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path / "empty"))
    (tmp_path / "empty").mkdir()
    cfg = load_config(cfg_path)
    assert cfg.member.transport_key_file == "transport.key"
    assert cfg.sources["member.transport_key_file"] == "file"
    # even there, a file others may write is refused
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    creds.chmod(0o700)
    (creds / "transport.key").chmod(0o646)
    with pytest.raises(ConfigError, match="others than its owner may write it"):
        transport_key(load_config(cfg_path))


# ------------------------------------------------------------------ the PKCS#11 PIN


def test_pin_file_follows_the_same_rules_and_keeps_spaces(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    _put(tmp_path / "hsm.pin", " 12 34 \n", 0o600)
    assert read_pin(None, "hsm.pin", str(tmp_path)).reveal() == " 12 34 "
    # a Kubernetes-style link to an owner-only file of ours
    link = _k8s_volume(tmp_path / "vol", "pin", "5678\r\n", 0o400)
    assert read_pin(None, str(link)).reveal() == "5678"
    # group-readable: refused, naming the option and the mode, never the PIN
    _put(tmp_path / "loose.pin", "secret-pin-99\n", 0o640)
    with pytest.raises(SignerError) as err:
        read_pin(None, "loose.pin", str(tmp_path))
    msg = str(err.value)
    assert msg.startswith("signer.pin_file: ") and "mode 0640" in msg
    assert "secret-pin-99" not in msg and "\n" not in msg
    # ... unless the config opts in for this secret
    opts = Pkcs11Options.model_validate({
        "library": "/nonexistent.so", "token_label": "t", "key_label": "k",
        "pin_file": {"path": "loose.pin", "allow_group_readable": True},
    })
    assert read_pin(opts.pin_env, opts.pin_file, str(tmp_path)).reveal() == "secret-pin-99"
    _put(tmp_path / "empty.pin", "\n", 0o600)
    with pytest.raises(SignerError, match=r"empty.pin is empty"):
        read_pin(None, "empty.pin", str(tmp_path))
