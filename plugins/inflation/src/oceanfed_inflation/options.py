"""The ``[inflation]`` table: validated with pydantic, errors name ``inflation.<field>``.

Common keys (used by every policy): ``policy``, ``rate``, ``period``, ``address``,
``reissuance_script``, ``key_file`` or ``key_source = "signer"``. Any other key belongs to
the chosen policy and is validated by its own ``Options`` model.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import base58
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from oceanfed.config import format_validation_error
from oceanfed.errors import ConfigError, DecodeError
from oceanfed.keyfile import SecretFile
from oceanfed.ocean.proof import is_hex
from oceanfed.ocean.script import parse_multisig

TABLE = "inflation"


class InflationOptions(BaseModel):
    """Keys of ``[inflation]`` shared by every policy (the rest go to the policy)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    #: inflation policy, an ``oceanfed.inflation`` entry point (``fixed-rate``, ``none``, ...)
    policy: str = Field(default="fixed-rate", min_length=1)
    #: yearly inflation rate, e.g. 0.02 for 2 % (``fixed-rate`` needs it); >= 0
    rate: Decimal | None = None
    #: reissue every ``period`` blocks (heights with ``height % period == 0``); >= 1
    period: int = Field(ge=1, strict=True)
    #: address the newly issued amounts are paid to
    address: str
    #: hex of the M-of-N CHECKMULTISIG reissuance script whose P2SH address holds the tokens
    reissuance_script: str
    #: file (mode 0600) holding this member's reissuance private key, hex or WIF
    key_file: SecretFile | None = None
    #: ``"signer"``: sign reissuances with the block signer (its key must be in the script)
    key_source: Literal["file", "signer"] | None = None
    #: hex ids of the assets to reissue; tokens of any other asset at the reissuance address
    #: are left alone (logged once). Unset: every token there, as upstream does, which lets
    #: anyone who can issue an asset add work to every period (``oceanfed check`` warns,
    #: and so does a member at start)
    assets: tuple[str, ...] | None = None

    @field_validator("rate", mode="before")
    @classmethod
    def _rate(cls, v: Any) -> Any:
        if v is None:
            return v
        if isinstance(v, bool) or not isinstance(v, int | float | str):
            raise ValueError("expected a number, e.g. 0.02")
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError("expected a finite number")
        try:
            d = Decimal(repr(v)) if isinstance(v, float) else Decimal(v)
        except InvalidOperation:
            raise ValueError("expected a number, e.g. 0.02") from None
        if not d.is_finite():
            raise ValueError("expected a finite number")
        if d < 0:
            raise ValueError(f"must be >= 0 (a yearly rate such as 0.02), got {v}")
        return d

    @field_validator("address")
    @classmethod
    def _address(cls, v: str) -> str:
        try:
            payload = base58.b58decode_check(v)
        except ValueError:
            raise ValueError(f"{v!r} is not a base58check address") from None
        if len(payload) != 21:
            raise ValueError(f"{v!r} is not a P2PKH or P2SH address")
        return v

    @field_validator("reissuance_script")
    @classmethod
    def _script(cls, v: str) -> str:
        try:
            parse_multisig(bytes.fromhex(v))
        except (ValueError, DecodeError) as exc:
            raise ValueError(f"expected the hex of an M-of-N CHECKMULTISIG script ({exc})") from None
        return v.lower()

    @field_validator("assets", mode="before")
    @classmethod
    def _assets(cls, v: Any) -> Any:
        if v is None:
            return v
        if not isinstance(v, list | tuple) or not v:
            raise ValueError("expected a non-empty list of asset ids (64 hex digits each); "
                             "leave it out to reissue every token at the reissuance address")
        ids = []
        for item in v:
            if not isinstance(item, str) or len(item) != 64 or not is_hex(item):
                raise ValueError(f"{item!r} is not an asset id (64 hex digits)")
            ids.append(item.lower())
        if len(set(ids)) != len(ids):
            raise ValueError("lists an asset twice")
        return tuple(ids)

    @model_validator(mode="after")
    def _key(self) -> InflationOptions:
        if self.key_source == "signer" and self.key_file is not None:
            raise ValueError('give key_file or key_source = "signer", not both')
        if self.key_source != "signer" and not self.key_file:
            raise ValueError('missing the reissuance key: give key_file (a 0600 file) or key_source = "signer"')
        return self

    def script(self) -> bytes:
        return bytes.fromhex(self.reissuance_script)

    def policy_options(self) -> dict[str, Any]:
        """The keys that are not common ones: the policy's own options."""
        return dict(self.model_extra or {})


def parse_options(table: dict[str, Any]) -> InflationOptions:
    """Validate ``[inflation]``; ConfigError with one line naming ``inflation.<field>``."""
    try:
        return InflationOptions.model_validate(table)
    except ValidationError as exc:
        raise ConfigError(format_validation_error("", exc, prefix=f"{TABLE}.").removeprefix(": ")) from None


def validate_model(model: type[BaseModel], data: dict[str, Any]) -> Any:
    """Validate a policy's own options; errors name ``inflation.<field>``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error("", exc, prefix=f"{TABLE}.").removeprefix(": ")) from None
