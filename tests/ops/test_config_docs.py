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
    assert tables | {"inflation"} == set(FedConfig.model_fields) - {"base_dir"}
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
        assert f"`{f.path.rsplit('.', 1)[1]}`" in text
