"""Tiny installed distributions: real entry points on a ``PYTHONPATH`` directory."""

from __future__ import annotations

import textwrap
from pathlib import Path


def install_dist(
    site: Path, name: str, version: str, entry_points: dict[str, dict[str, str]],
    modules: dict[str, str],
) -> None:
    """Install a tiny distribution ``name`` into ``site``: ``entry_points`` by group, and each
    module ``{name: source}`` beside it."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items())
        for group, eps in entry_points.items()
    ))
    for module, source in modules.items():
        (site / f"{module}.py").write_text(textwrap.dedent(source))
