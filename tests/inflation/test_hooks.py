"""The inflation plugin as one registered object: its table, its veto hook, the old veto group."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from oceanfed.hookspecs import hookimpl
from oceanfed.plugins import check_hooks, declared_tables, hook_manager
from oceanfed_inflation.hooks import InflationHooks


class CapVeto:
    @hookimpl
    def oceanfed_inflation_veto(self, height, reissuances):
        return "over the cap" if height > 10 else None


def test_the_plugin_is_an_object_with_its_own_table_and_veto_hook() -> None:
    pm = hook_manager(load_installed=False)
    mine, other = InflationHooks(), InflationHooks()
    pm.register(mine, name="inflation")
    pm.register(CapVeto(), name="cap")
    pm.hook.oceanfed_add_hookspecs(pluginmanager=pm)
    check_hooks(pm)  # the veto hook is known once the plugin added it
    assert set(declared_tables(pm)) == {"inflation"}
    assert mine.vetoes(11, []) == "over the cap"
    assert mine.vetoes(3, []) is None
    assert other.engine is None and other.vetoes(11, []) is None  # no state shared


def test_veto_plugins_of_the_old_group_still_work(tmp_path: Path) -> None:
    site = tmp_path / "site"
    info = site / "old_veto-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: old-veto\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[oceanfed.inflation_hooks]\nold = old_veto\n")
    (site / "old_veto.py").write_text(textwrap.dedent("""
        from oceanfed_inflation.hookspecs import hookimpl

        @hookimpl
        def inflation_veto(height, reissuances):
            return "old rule" if height > 10 else None
    """))
    code = textwrap.dedent("""
        import warnings
        from oceanfed_inflation.hookspecs import legacy_vetoes
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            (veto,) = legacy_vetoes()
        print(caught[0].category.__name__)
        print(veto(height=11, reissuances=[]), veto(height=3, reissuances=[]))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["DeprecationWarning", "old rule None"]
