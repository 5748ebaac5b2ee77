"""TOML text for single values, for the fed.toml and devnet.toml files oceanfed writes.

Rendering goes through tomlkit, so every string (non-BMP characters, control characters,
quotes) comes out as TOML that ``tomllib`` reads back to the same value. Lists are written
as arrays and dicts as inline tables; pydantic models as the inline table of their fields.
"""

from __future__ import annotations

from typing import Any

import tomlkit
from pydantic import BaseModel
from tomlkit.items import Item


def _item(value: Any) -> Item:
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if isinstance(value, dict):
        table = tomlkit.inline_table()
        for key, inner in value.items():
            if not isinstance(key, str):
                raise TypeError(f"TOML keys are strings, not {type(key).__name__}")
            table.append(key, _item(inner))
        return table
    if isinstance(value, list | tuple):
        array = tomlkit.array()
        array.extend(_item(v) for v in value)
        return array
    if isinstance(value, bool | int | float | str):
        return tomlkit.item(value)
    raise TypeError(f"no TOML form for {type(value).__name__}")


def toml_value(value: Any) -> str:
    """``value`` as TOML text (strings, numbers, booleans, lists, inline tables)."""
    return _item(value).as_string()
