"""docs/configuration.md is generated from the schema and must be current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from oceanfed.config import FedConfig
from oceanfed.configdoc import CORE, core_fields

ROOT = Path(__file__).resolve().parents[2]


def test_every_core_field_has_a_description() -> None:
    fields = core_fields()
    assert all(f.description for f in fields), [f.path for f in fields if not f.description]
    tables = {f.path.split(".")[0] for f in fields}
    assert tables == set(FedConfig.model_fields) - {"base_dir", "plugin_tables"}
    stale = set(CORE) - {f.path for f in fields} - {"inflation"}
    assert not stale, f"descriptions of fields that no longer exist: {sorted(stale)}"


def test_configuration_reference_is_current() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_config_docs.py"), "--check"],
        capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stderr
    text = (ROOT / "docs" / "configuration.md").read_text()
    for f in core_fields():
        assert f"`{f.path.rsplit('.', 1)[-1]}`" in text


def test_plugin_guide_covers_every_hook_and_interface() -> None:
    import inspect

    from oceanfed import hookspecs, plugins
    from oceanfed.interfaces import Messenger, PluginContext, Signer

    guide = (ROOT / "docs" / "plugins.md").read_text()
    specs = [n for n, f in inspect.getmembers(hookspecs, inspect.isfunction)
             if hasattr(f, "oceanfed_spec")]
    assert len(specs) >= 7
    for name in specs:
        params = ", ".join(inspect.signature(getattr(hookspecs, name)).parameters)
        assert f"### `{name}({params})" in guide, name
        assert f"def {name}(" in guide, f"no example for {name}"
    for group in (plugins.MESSENGERS, plugins.SIGNERS, plugins.HOOKS, plugins.COMMANDS):
        assert f"`{group}`" in guide
    for cls in (Messenger, Signer):
        for name, _ in inspect.getmembers(cls, inspect.isfunction):
            if not name.startswith("_"):
                assert f"`{name}(" in guide, f"{cls.__name__}.{name}"
    for field in PluginContext.__dataclass_fields__:
        assert f"`{field}`" in guide, field
