"""Secret key files: block and transport private keys, and other one-line secrets.

A private key file holds a 32-byte secp256k1 private key as 64 hex characters on one line.
A WIF (``5…``/``K…``/``L…`` mainnet 0x80, ``9…``/``c…`` testnet 0xef) is accepted too, so
that a key exported for the upstream daemon's ``--reissuanceprivkey`` can be used as is.

Every secret file (keys, RPC and Kafka passwords, HSM PINs) is read by
:func:`read_secret_file`, under one set of rules (docs/security.md, "Secret files"):

* by default the file must be a regular file readable by its owner only (0600 or 0400);
* a symbolic link (Kubernetes Secret volumes) is followed when its final target is
  owner-only and owned by the member's own user;
* a file under ``$CREDENTIALS_DIRECTORY`` (systemd ``LoadCredential=``), and a secret
  configured with ``allow_group_readable = true`` (Docker Swarm's 0444), may be readable
  by others, but never writable by anyone but its owner.

In ``fed.toml`` a secret file is a path, or a table ``{ path = "…", allow_group_readable =
true }`` (:data:`SecretFile`); a bare file name is looked up in ``$CREDENTIALS_DIRECTORY``
first when that is set. Files are written atomically: a 0600 temporary file in the same
directory is written, fsynced and renamed into place, then the directory is fsynced. Error
messages name the file and never contain its content.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import base58
import coincurve
from pydantic import PlainSerializer, PlainValidator

from oceanfed.atomicfile import write_atomic
from oceanfed.crypto import CURVE_ORDER
from oceanfed.errors import ConfigError

#: WIF version bytes accepted: mainnet and testnet (``ocean_test`` uses 0xef).
WIF_VERSIONS = (0x80, 0xEF)

_MAX_SECRET_FILE = 4096


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


#: the environment variable systemd sets to the directory of a unit's ``LoadCredential=``
CREDENTIALS_ENV = "CREDENTIALS_DIRECTORY"


class SecretPath(str):
    """A secret file's path as configured, with how it may be delivered.

    It is a ``str`` (the path), so code that only needs the path keeps working;
    :attr:`allow_group_readable` is the explicit opt-in for files others may read, and
    :attr:`credential` says the path was found in ``$CREDENTIALS_DIRECTORY``.
    """

    allow_group_readable: bool
    credential: bool

    def __new__(
        cls, path: str, allow_group_readable: bool = False, credential: bool = False
    ) -> SecretPath:
        self = super().__new__(cls, path)
        self.allow_group_readable = allow_group_readable
        self.credential = credential
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (SecretPath, (str(self), self.allow_group_readable, self.credential))


def allows_group_readable(value: object) -> bool:
    """Whether a configured secret path opted in to ``allow_group_readable``."""
    return bool(getattr(value, "allow_group_readable", False))


def resolve_path(base_dir: str | os.PathLike[str], value: str) -> Path:
    """A path from the config: ``~`` expanded, a relative one against ``base_dir`` (the
    config file's directory)."""
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else Path(base_dir) / path


def credentials_dir(environ: Mapping[str, str] | None = None) -> Path | None:
    """``$CREDENTIALS_DIRECTORY`` (systemd's LoadCredential), or None when unset."""
    value = (os.environ if environ is None else environ).get(CREDENTIALS_ENV, "")
    return Path(value) if value else None


def credential_path(name: str, environ: Mapping[str, str] | None = None) -> Path | None:
    """``$CREDENTIALS_DIRECTORY/<name>`` for a bare file ``name`` present there, else None."""
    directory = credentials_dir(environ)
    if directory is None or not name or "/" in name or name in (".", ".."):
        return None
    candidate = directory / name
    return candidate if os.path.lexists(candidate) else None


def _secret_path(value: Any) -> SecretPath:
    if isinstance(value, SecretPath):
        return value
    if isinstance(value, str):
        path, allow = value, False
    elif isinstance(value, dict):
        unknown = sorted(set(value) - {"path", "allow_group_readable"})
        if unknown:
            raise ValueError(
                f"unknown key {unknown[0]!r}; expected {{ path = \"FILE\", "
                "allow_group_readable = true }"
            )
        given, allow = value.get("path"), value.get("allow_group_readable", False)
        if not isinstance(given, str):
            raise ValueError('missing path = "FILE" in the secret file table')
        path = given
        if not isinstance(allow, bool):
            raise ValueError("allow_group_readable: expected true or false")
    else:
        raise ValueError(
            'expected a file path, or a table { path = "FILE", allow_group_readable = true }'
        )
    if not path:
        raise ValueError("expected a file path, not an empty string")
    found = credential_path(path)
    if found is not None:
        return SecretPath(str(found), allow, credential=True)
    return SecretPath(path, allow)


#: A secret file in a config model: ``"path"`` or ``{ path = "…", allow_group_readable =
#: true }``; validates to a :class:`SecretPath` (found in ``$CREDENTIALS_DIRECTORY`` when
#: a bare name is there).
SecretFile = Annotated[
    str,
    PlainValidator(_secret_path, json_schema_input_type=str | dict[str, Any]),
    PlainSerializer(str, return_type=str),
]


def _under(path: str, directory: Path | None) -> bool:
    if directory is None:
        return False
    root = os.path.realpath(directory)
    return os.path.commonpath([root, path]) == root


def read_secret_file(
    path: str | os.PathLike[str],
    what: str = "secret key",
    *,
    allow_group_readable: bool | None = None,
    pin: bool = False,
) -> str:
    """Return the text of a secret file, stripped of surrounding whitespace.

    The rules (module docstring) decide which files are accepted: owner-only by default; a
    symbolic link whose final target is owner-only and owned by this process's user; any
    mode but group- or other-writable under ``$CREDENTIALS_DIRECTORY`` or with
    ``allow_group_readable`` (default: what a :class:`SecretPath` ``path`` says). With
    ``pin``, only trailing line breaks are removed (a PIN may hold spaces). Raises
    ConfigError naming the file when it is missing, unreadable, not a regular file, too
    large, not UTF-8, or not delivered by one of the accepted ways.
    """
    if allow_group_readable is None:
        allow_group_readable = allows_group_readable(path)
    p = Path(path)
    try:
        linked = p.is_symlink()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read {what} file ({_reason(exc)})") from None
    target = os.path.realpath(p) if linked else str(p)
    if linked and not os.path.exists(target):
        raise ConfigError(f"{p}: {what} file is a symbolic link to {target}, which is missing")
    try:
        fd = os.open(
            target, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        )
    except FileNotFoundError:
        raise ConfigError(f"{p}: {what} file not found") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # the link was changed under us
            raise ConfigError(f"{p}: {what} file changed while it was read") from None
        raise ConfigError(f"{p}: cannot read {what} file ({_reason(exc)})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"{p}: {what} file is not a regular file")
        _check_access(p, what, st, os.path.realpath(target), linked, allow_group_readable)
        try:
            data = os.read(fd, _MAX_SECRET_FILE + 1)
        except OSError as exc:
            raise ConfigError(f"{p}: cannot read {what} file ({_reason(exc)})") from None
    finally:
        os.close(fd)
    if len(data) > _MAX_SECRET_FILE:
        raise ConfigError(f"{p}: {what} file is too large to be a key")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: {what} file is not text") from None
    return text.rstrip("\r\n") if pin else text.strip()


def _check_access(
    p: Path, what: str, st: os.stat_result, real: str, linked: bool, allow_group_readable: bool
) -> None:
    """Refuse a secret file that none of the accepted ways of delivery explains."""
    mode = stat.S_IMODE(st.st_mode)
    if _under(real, credentials_dir()) or allow_group_readable:
        if mode & 0o022:
            raise ConfigError(
                f"{p}: {what} file has mode {mode:04o}; others than its owner may write it "
                f"(chmod go-w {p})"
            )
        return
    if mode & 0o077:
        via = f" (a symbolic link to {real})" if linked else ""
        raise ConfigError(
            f"{p}: {what} file{via} has mode {mode:04o}; it must be readable by its owner "
            f"only (0600 or 0400: chmod 600 {real}), or set allow_group_readable = true "
            "for it in the config"
        )
    if linked and st.st_uid != os.geteuid():
        raise ConfigError(
            f"{p}: {what} file is a symbolic link to {real}, owned by uid {st.st_uid}, not by "
            f"this member's user (uid {os.geteuid()})"
        )


def write_secret_file(path: str | os.PathLike[str], text: str, *, force: bool = False) -> None:
    """Write ``text`` (plus a newline) to an owner-only file, atomically and durably.

    Refuses to replace an existing file unless ``force``; raises ConfigError naming the file.
    """
    p = Path(path)
    if not force and p.exists():
        raise ConfigError(f"{p}: file exists; refusing to overwrite a key (use --force)")
    try:
        write_atomic(p, (text + "\n").encode("utf-8"), mode=0o600, replace=force)
    except FileExistsError:
        raise ConfigError(f"{p}: file exists; refusing to overwrite a key (use --force)") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot write key file ({_reason(exc)})") from None


def parse_private_key(text: str) -> bytes:
    """Decode 64 hex characters or a WIF into a 32-byte private key.

    Raises ValueError with a message that never includes the input.
    """
    text = text.strip()
    if len(text) == 64:
        try:
            key = bytes.fromhex(text)
        except ValueError:
            raise ValueError("expected 64 hex characters or a WIF") from None
    elif 50 <= len(text) <= 52:
        try:
            payload = base58.b58decode_check(text)
        except ValueError:
            raise ValueError("not a valid WIF (bad base58 or checksum)") from None
        if len(payload) == 34 and payload[-1] == 0x01:
            payload = payload[:-1]
        if len(payload) != 33:
            raise ValueError("not a valid WIF (wrong length)")
        if payload[0] not in WIF_VERSIONS:
            raise ValueError(
                f"WIF version 0x{payload[0]:02x} is neither mainnet 0x80 nor testnet 0xef"
            )
        key = payload[1:]
    else:
        raise ValueError("expected a 32-byte private key as 64 hex characters, or a WIF")
    if not 0 < int.from_bytes(key, "big") < CURVE_ORDER:
        raise ValueError("private key is out of range for secp256k1")
    return key


def read_private_key(
    path: str | os.PathLike[str], *, allow_group_readable: bool | None = None
) -> bytes:
    """Read a 32-byte secp256k1 private key from a secret file (hex or WIF)."""
    text = read_secret_file(path, "private key", allow_group_readable=allow_group_readable)
    if not text:
        raise ConfigError(f"{path}: private key file is empty")
    if len(text.split()) != 1:
        raise ConfigError(f"{path}: private key file must hold the key on one line")
    try:
        return parse_private_key(text)
    except ValueError as exc:
        raise ConfigError(f"{path}: malformed private key file: {exc}") from None


def write_private_key(path: str | os.PathLike[str], key: bytes, *, force: bool = False) -> None:
    """Write a 32-byte private key as hex to an owner-only file, atomically."""
    if len(key) != 32 or not 0 < int.from_bytes(key, "big") < CURVE_ORDER:
        raise ValueError("a private key is 32 bytes in the secp256k1 range")
    write_secret_file(path, key.hex(), force=force)


def generate_private_key() -> bytes:
    """A fresh random secp256k1 private key (from the OS CSPRNG)."""
    return coincurve.PrivateKey().secret
