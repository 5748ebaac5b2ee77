"""TOML text for single values, for the fed.toml and devnet.toml files oceanfed writes.

Strings are written as JSON strings (valid TOML basic strings), lists as arrays and dicts
as inline tables; pydantic models are written as the inline table of their fields.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel


def toml_value(value: Any) -> str:
    """``value`` as TOML text (strings, numbers, booleans, lists, inline tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, BaseModel):
        return toml_value(value.model_dump())
    raise TypeError(f"no TOML form for {type(value).__name__}")
