"""The shape of the imports: the core imports no plugin, and packages have no import cycles.

Read from the source (every ``import`` statement, also those inside functions and under
``TYPE_CHECKING``), so that a lazy import cannot hide a dependency.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "core" / "src" / "oceanfed"

def modules(src: Path, package: str) -> dict[str, Path]:
    """``{dotted name: file}`` of every module of ``package`` whose directory is ``src``."""
    out = {}
    for path in sorted(src.rglob("*.py")):
        parts = [package, *path.relative_to(src).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imports(name: str, path: Path) -> Iterator[str]:
    """Every module ``name`` imports (absolute names; ``from a import b`` gives ``a`` and ``a.b``)."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = name.split(".")[: len(name.split(".")) - node.level + is_package]
                base = ".".join([*parent, base] if base else parent)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (a list of modules, the first repeated last), or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def graph_of(found: dict[str, Path]) -> dict[str, set[str]]:
    return {
        name: {m for m in imports(name, path) if m in found and m != name}
        for name, path in found.items()
    }


def test_core_imports_no_plugin() -> None:
    """Plugins are asked through hooks and entry points, never imported by the core."""
    bad = {f"{name} imports {m}" for name, path in modules(CORE, "oceanfed").items()
           for m in imports(name, path) if m.startswith("oceanfed_")}
    assert not sorted(bad)


def test_no_import_cycles_in_the_core() -> None:
    assert cycle(graph_of(modules(CORE, "oceanfed"))) is None


@pytest.mark.parametrize("plugin", ["inflation", "messenger_zmq", "messenger_kafka", "devnet",
                                    "signer_soft", "signer_pkcs11"])
def test_no_import_cycles_in_plugins(plugin: str) -> None:
    (src,) = (p for p in (ROOT / "plugins" / plugin / "src").glob("oceanfed_*") if p.is_dir()
              and (p / "__init__.py").exists())
    assert cycle(graph_of(modules(src, src.name))) is None


def test_the_cycle_check_finds_a_cycle(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.b import x\n")
    (pkg / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import y\n")
    assert cycle(graph_of(modules(pkg, "pkg"))) == ["pkg.a", "pkg.b", "pkg.a"]
