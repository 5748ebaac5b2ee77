"""The hook the inflation plugin adds for other plugins: ``oceanfed_inflation_veto``.

Implement it in any ``oceanfed.hooks`` plugin (the spec is added to the member's one plugin
manager by the inflation plugin); the chosen policy's
:meth:`~oceanfed_inflation.policies.InflationPolicy.veto` is asked first. Example::

    from oceanfed.hookspecs import hookimpl

    @hookimpl
    def oceanfed_inflation_veto(height, reissuances):
        if any(r.amount > 1000 for r in reissuances):
            return "more than 1000 in one period"
        return None

Plugins of oceanfed 0.1 registered under the entry point group ``oceanfed.inflation_hooks``
with an ``inflation_veto`` function are still asked, with a DeprecationWarning, for this
release.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

from oceanfed.hookspecs import hookimpl, hookspec
from oceanfed.plugins import installed, load
from oceanfed_inflation.reissuance import Reissuance

__all__ = ["LEGACY_GROUP", "hookimpl", "legacy_vetoes", "oceanfed_inflation_veto"]

#: the entry point group of oceanfed 0.1's veto plugins (deprecated)
LEGACY_GROUP = "oceanfed.inflation_hooks"

Veto = Callable[..., "str | None"]


@hookspec(firstresult=True)
def oceanfed_inflation_veto(height: int, reissuances: Sequence[Reissuance]) -> str | None:
    """Refuse the reissuances proposed (or about to be proposed) at ``height``: return a
    reason, or None. The first reason refuses the whole block proposal; the proposer itself
    does not propose reissuances that a veto refuses."""


def legacy_vetoes() -> list[Veto]:
    """The ``inflation_veto`` functions of the plugins in the deprecated group."""
    out: list[Veto] = []
    for name, _, _ in installed(LEGACY_GROUP):
        plugin = load(LEGACY_GROUP, name, field="inflation", kind="veto plugin")
        warnings.warn(
            f"inflation veto plugin {name!r}: the {LEGACY_GROUP} entry point group is "
            "deprecated; implement oceanfed_inflation_veto in an oceanfed.hooks plugin",
            DeprecationWarning, stacklevel=2,
        )
        out.append(plugin.inflation_veto)
    return out
