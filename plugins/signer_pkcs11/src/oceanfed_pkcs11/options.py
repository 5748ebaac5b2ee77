"""``[signer]`` options of the PKCS#11 drivers, and reading the user PIN."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from oceanfed.errors import ConfigError, SignerError
from oceanfed.interfaces import PluginOptions
from oceanfed.keyfile import SecretFile, allows_group_readable, read_secret_file


class Pkcs11Options(PluginOptions):
    """Options shared by the ``pkcs11`` and ``pykcs11`` drivers.

    Example::

        [signer]
        driver = "pkcs11"
        library = "/usr/lib/softhsm/libsofthsm2.so"
        token_label = "oceanfed"
        key_label = "member1"
        mechanism = "ecdsa"           # or "ecdsa-sha256", or "auto"
        pin_env = "OCEANFED_HSM_PIN"  # or pin_file = "hsm.pin" (mode 0600)
    """

    library: str = Field(min_length=1)
    token_label: str | None = None
    slot: int | None = Field(default=None, ge=0)
    key_label: str = Field(min_length=1)
    #: hex CKA_ID, to pick one key among several with the same label
    key_id: str | None = None
    #: ``ecdsa``: raw CKM_ECDSA over the double-SHA256 digest; ``ecdsa-sha256``:
    #: CKM_ECDSA_SHA256 over the single SHA-256 of the header; ``auto``: the first offered
    mechanism: Literal["ecdsa", "ecdsa-sha256", "auto"] = "ecdsa"
    pin_env: str | None = None
    #: file holding the user PIN (mode 0600, or as docs/security.md allows)
    pin_file: SecretFile | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_inline_pin(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in ("pin", "user_pin", "so_pin"):
                if key in data:
                    raise ValueError(
                        f"{key}: a PIN is never written in the config; use pin_env or pin_file"
                    )
        return data

    @field_validator("key_id")
    @classmethod
    def _hex(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            bytes.fromhex(v)
        except ValueError:
            raise ValueError("expected the key's CKA_ID in hex") from None
        return v.lower()

    @model_validator(mode="after")
    def _one_of(self) -> Pkcs11Options:
        if (self.token_label is None) == (self.slot is None):
            raise ValueError("set exactly one of token_label and slot")
        if (self.pin_env is None) == (self.pin_file is None):
            raise ValueError("set exactly one of pin_env and pin_file")
        return self

    @property
    def key_id_bytes(self) -> bytes | None:
        return bytes.fromhex(self.key_id) if self.key_id is not None else None


class Secret:
    """A string that never shows in repr, str or logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


def read_pin(
    pin_env: str | None,
    pin_file: str | None,
    base_dir: str = ".",
    env_field: str = "signer.pin_env",
    file_field: str = "signer.pin_file",
) -> Secret:
    """The user PIN from an environment variable or from a secret file.

    The file is read by :func:`oceanfed.keyfile.read_secret_file` under the rules of every
    secret file (owner-only by default; see docs/security.md); only the trailing line break
    is removed, so a PIN may begin or end with spaces.
    """
    if pin_env is not None:
        value = os.environ.get(pin_env)
        if not value:
            raise SignerError(
                f"{env_field}: environment variable {pin_env} is not set (it must hold the user PIN)"
            )
        return Secret(value)
    if pin_file is None:
        raise SignerError(f"{env_field}: no PIN source: set {env_field} or {file_field}")
    path = Path(os.path.expanduser(pin_file))
    if not path.is_absolute():
        path = Path(base_dir) / path
    try:
        value = read_secret_file(
            path, "PIN", allow_group_readable=allows_group_readable(pin_file), pin=True
        )
    except ConfigError as exc:
        raise SignerError(f"{file_field}: {exc}") from None
    if not value:
        raise SignerError(f"{file_field}: {path} is empty (it must hold the user PIN)")
    return Secret(value)
