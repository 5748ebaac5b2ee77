"""Secret key files: block and transport private keys, and other one-line secrets.

A private key file holds a 32-byte secp256k1 private key as 64 hex characters on one line.
A WIF (``5…``/``K…``/``L…`` mainnet 0x80, ``9…``/``c…`` testnet 0xef) is accepted too, so
that a key exported for the upstream daemon's ``--reissuanceprivkey`` can be used as is.

Secret files must be readable by their owner only (mode 0600 or 0400); anything looser is
refused. Files are written atomically: a 0600 temporary file in the same directory is
written, fsynced and renamed into place, then the directory is fsynced. Error messages name
the file and never contain its content.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import base58
import coincurve

from oceanfed.atomicfile import write_atomic
from oceanfed.crypto import CURVE_ORDER
from oceanfed.errors import ConfigError

#: WIF version bytes accepted: mainnet and testnet (``ocean_test`` uses 0xef).
WIF_VERSIONS = (0x80, 0xEF)

_MAX_SECRET_FILE = 4096


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def read_secret_file(path: str | os.PathLike[str], what: str = "secret key") -> str:
    """Return the stripped text of an owner-only secret file.

    Raises ConfigError naming the file when it is missing, unreadable, not a regular file,
    too large, not UTF-8, or when its mode grants any access to group or others.
    """
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ConfigError(f"{p}: {what} file not found") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ConfigError(f"{p}: {what} file must not be a symbolic link") from None
        raise ConfigError(f"{p}: cannot read {what} file ({_reason(exc)})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"{p}: {what} file is not a regular file")
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            raise ConfigError(
                f"{p}: {what} file has mode {mode:04o}; it must be readable by its owner "
                f"only (0600 or 0400: chmod 600 {p})"
            )
        try:
            data = os.read(fd, _MAX_SECRET_FILE + 1)
        except OSError as exc:
            raise ConfigError(f"{p}: cannot read {what} file ({_reason(exc)})") from None
    finally:
        os.close(fd)
    if len(data) > _MAX_SECRET_FILE:
        raise ConfigError(f"{p}: {what} file is too large to be a key")
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: {what} file is not text") from None


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


def read_private_key(path: str | os.PathLike[str]) -> bytes:
    """Read a 32-byte secp256k1 private key from an owner-only file (hex or WIF)."""
    text = read_secret_file(path, "private key")
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
