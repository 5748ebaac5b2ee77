"""The TOML writer's output reads back, through tomllib, as the value written."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oceanfed.tomlwrite import toml_value

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SCALARS = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.text(),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


def _read(text: str) -> Any:
    return tomllib.loads(f"k = {text}\n")["k"]


@pytest.mark.parametrize("value", ["x😀", "tab\tquote\"back\\slash\nnl", "\x00\x7f", "é€𝄞"])
def test_strings_outside_the_bmp_and_control_characters_round_trip(value: str) -> None:
    assert _read(toml_value(value)) == value


@given(VALUES)
def test_any_value_round_trips(value: Any) -> None:
    assert _read(toml_value(value)) == value


def test_unwritable_values_are_refused_with_their_type() -> None:
    with pytest.raises(TypeError, match="NoneType"):
        toml_value(None)
