"""oceanfed hooks of the inflation plugin (entry point ``oceanfed.hooks: inflation``).

The entry point names :class:`InflationHooks`, which the member builds once and registers;
with no ``[inflation]`` table every hook does nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pluggy

from oceanfed.config import FedConfig
from oceanfed.hookspecs import hookimpl
from oceanfed.interfaces import PluginContext, Signer
from oceanfed_inflation import hookspecs
from oceanfed_inflation.engine import PLUGIN, Inflation, check
from oceanfed_inflation.reissuance import Reissuance


class InflationHooks:
    """One member's inflation plugin: its engine once started, and the other plugins' vetoes."""

    def __init__(self) -> None:
        self.engine: Inflation | None = None
        self._hooks: Any = None
        self._legacy: list[hookspecs.Veto] = []

    @hookimpl
    def oceanfed_add_hookspecs(self, pluginmanager: pluggy.PluginManager) -> None:
        pluginmanager.add_hookspecs(hookspecs)
        self._hooks = pluginmanager.hook

    @hookimpl
    def oceanfed_config_tables(self) -> dict[str, str]:
        return {PLUGIN: "Scheduled reissuance: `policy` names an inflation policy."}

    @hookimpl
    def oceanfed_member_started(self, config: FedConfig, context: PluginContext, signer: Signer) -> None:
        if config.table(PLUGIN) is None:
            self.engine = None
            return
        self._legacy = hookspecs.legacy_vetoes()
        self.engine = Inflation.start(config, context, signer, vetoes=self.vetoes)

    def vetoes(self, height: int, reissuances: Sequence[Reissuance]) -> str | None:
        """The first reason another plugin gives to refuse ``reissuances``, or None."""
        reason = None
        if self._hooks is not None:
            reason = self._hooks.oceanfed_inflation_veto(height=height, reissuances=list(reissuances))
        for veto in self._legacy:
            reason = reason or veto(height=height, reissuances=list(reissuances))
        return reason or None

    @property
    def idle(self) -> bool:
        """Whether every hook of this plugin does nothing (no ``[inflation]`` table): the
        driver then need not run them on a thread (see ``Driver._has_hook``)."""
        return self.engine is None

    @hookimpl
    def oceanfed_check_config(
        self, config: FedConfig, context: PluginContext
    ) -> list[tuple[str, str, str]] | None:
        return None if config.table(PLUGIN) is None else check(config, context)

    @hookimpl
    def oceanfed_proposal_extras(self, height: int, block_hex: str) -> dict[str, Any] | None:
        return None if self.engine is None else self.engine.extras(height)

    @hookimpl
    def oceanfed_validate_proposal(
        self, height: int, block_hex: str, extras: dict[str, Any]
    ) -> str | None:
        return None if self.engine is None else self.engine.validate(height, extras)

    @hookimpl
    def oceanfed_sign_extras(
        self, height: int, block_hash: str, extras: dict[str, Any]
    ) -> dict[str, Any] | None:
        return None if self.engine is None else self.engine.sign(height, extras)

    @hookimpl
    def oceanfed_block_complete(
        self, height: int, block_hash: str, extras: dict[str, Any],
        extra_sigs: dict[str, dict[str, Any]],
    ) -> None:
        if self.engine is not None:
            self.engine.complete(height, extras, extra_sigs)
