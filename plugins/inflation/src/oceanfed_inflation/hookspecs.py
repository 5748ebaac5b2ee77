"""The inflation plugin's own hooks (pluggy project ``oceanfed_inflation``).

Register a module or object under the entry point group ``oceanfed.inflation_hooks``;
the chosen policy's :meth:`~oceanfed_inflation.policies.InflationPolicy.veto` is
registered too. Example::

    from oceanfed_inflation.hookspecs import hookimpl

    @hookimpl
    def inflation_veto(height, reissuances):
        if any(r.amount > 1000 for r in reissuances):
            return "more than 1000 in one period"
        return None
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from oceanfed_inflation.plan import Reissuance
    from oceanfed_inflation.policies import InflationPolicy

PROJECT = "oceanfed_inflation"
GROUP = "oceanfed.inflation_hooks"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def inflation_veto(height: int, reissuances: Sequence[Reissuance]) -> str | None:
    """Refuse the reissuances proposed (or about to be proposed) at ``height``: return a
    reason, or None. Any reason refuses the whole block proposal; the proposer itself
    does not propose reissuances that a veto refuses."""


class _PolicyVeto:
    def __init__(self, policy: InflationPolicy):
        self.policy = policy

    @hookimpl
    def inflation_veto(self, height: int, reissuances: Sequence[Reissuance]) -> str | None:
        return self.policy.veto(height, reissuances)


def veto_manager(policy: InflationPolicy) -> pluggy.PluginManager:
    """A manager with the ``inflation_veto`` spec, the policy and every installed
    ``oceanfed.inflation_hooks`` plugin."""
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(sys.modules[__name__])
    pm.register(_PolicyVeto(policy), name="policy")
    pm.load_setuptools_entrypoints(GROUP)
    return pm


def first_veto(pm: pluggy.PluginManager, height: int, reissuances: Sequence[Reissuance]) -> str | None:
    """The first reason any implementation gives, or None."""
    answers = pm.hook.inflation_veto(height=height, reissuances=list(reissuances))
    return next((a for a in answers if a), None)
