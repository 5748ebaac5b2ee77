"""The consensus core stays readable: no function in it grows past a screenful."""

from __future__ import annotations

import ast
from pathlib import Path

import oceanfed.consensus

#: the longest function allowed in ``oceanfed.consensus``, from its ``def`` line to its last
MAX_FUNCTION_LINES = 40


def _long_functions(root: Path, limit: int) -> list[str]:
    found = []
    for path in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                lines = (node.end_lineno or node.lineno) - first + 1
                if lines > limit:
                    found.append(f"{path.name}:{node.lineno} {node.name}() has {lines} lines")
    return found


def test_no_function_in_the_consensus_core_is_longer_than_the_limit() -> None:
    root = Path(oceanfed.consensus.__file__).parent
    assert len(list(root.glob("*.py"))) >= 5  # the package is where we look
    assert _long_functions(root, MAX_FUNCTION_LINES) == []


def test_the_check_sees_a_long_function(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / "long.py").write_text(f"def f() -> None:\n{body}\n")
    assert _long_functions(tmp_path, MAX_FUNCTION_LINES) == [
        f"long.py:1 f() has {MAX_FUNCTION_LINES + 1} lines"
    ]
