"""oceanfed hooks of the inflation plugin (entry point ``oceanfed.hooks: inflation``).

With no ``[inflation]`` table every hook does nothing.
"""

from __future__ import annotations

from typing import Any

from oceanfed.hookspecs import hookimpl
from oceanfed_inflation.engine import Inflation, check

_engine: Inflation | None = None


def engine() -> Inflation | None:
    """This process's running inflation engine, if ``[inflation]`` is configured."""
    return _engine


@hookimpl
def member_started(config: Any, context: Any, signer: Any) -> None:
    global _engine
    table = getattr(config, "inflation", None)
    _engine = None if table is None else Inflation.start(config, context, signer)


@hookimpl
def check_config(config: Any, context: Any) -> list[tuple[str, str, str]] | None:
    return None if getattr(config, "inflation", None) is None else check(config, context)


@hookimpl
def proposal_extras(height: int, block_hex: str) -> dict[str, Any] | None:
    return None if _engine is None else _engine.extras(height)


@hookimpl
def validate_proposal(height: int, block_hex: str, extras: dict[str, Any]) -> str | None:
    return None if _engine is None else _engine.validate(height, extras)


@hookimpl
def sign_extras(height: int, block_hash: str, extras: dict[str, Any]) -> dict[str, Any] | None:
    return None if _engine is None else _engine.sign(height, extras)


@hookimpl
def block_complete(
    height: int, block_hash: str, extras: dict[str, Any], extra_sigs: dict[str, dict[str, Any]]
) -> None:
    if _engine is not None:
        _engine.complete(height, extras, extra_sigs)
