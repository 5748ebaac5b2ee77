"""The ``[rounds]`` and ``block_time`` defaults are the machine's: config and core cannot drift."""

from __future__ import annotations

from oceanfed.config import Federation, Rounds
from oceanfed.consensus.machine import CORE_DEFAULTS, CoreConfig


def test_config_model_defaults_are_the_core_defaults() -> None:
    bare = CoreConfig(me=0, names=["a", "b"], threshold=2, challenge=b"\x51")
    from_model = CoreConfig(
        me=0, names=["a", "b"], threshold=2, challenge=b"\x51",
        block_time=Federation.model_fields["block_time"].default,
        **Rounds().model_dump(),
    )
    assert from_model == bare


def test_every_rounds_field_has_a_core_default() -> None:
    assert set(Rounds.model_fields) | {"block_time"} == set(CORE_DEFAULTS)
