"""No logic is copied: no run of six or more lines stands in two modules of the core or the
plugins (``core/src``, ``plugins/*/src``; tests are not looked at).

Lines are compared with their comments cut and white space folded; blank lines, lone
brackets, imports and docstrings are passed over. Every window of six such lines is hashed;
a hash found in two files is a copy. Fold a copy into one shared helper; where that is not
yet possible, name the pair in ALLOWED with the reason.
"""

from __future__ import annotations

import ast
import hashlib
import io
import tokenize
from collections import defaultdict
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: lines in a run that makes a copy
RUN = 6
#: the characters of a line that is only punctuation (``)``, ``],``, ``}:``)
LONE = frozenset("()[]{},:;")

#: copies known and left for now: ``(pattern, pattern, reason)``, fnmatch patterns of the two
#: files' paths relative to the repository
ALLOWED: tuple[tuple[str, str, str], ...] = (
    ("*devnet*/oceand.py", "*devnet*/setup.py",
     "the devnet's two constructors (create_devnet, create_oceand_devnet) share their "
     "parameter list; developer tooling, left to the devnet distribution's own clean-up"),
)


def sources(root: Path) -> list[Path]:
    """The modules of the core and of every plugin below ``root``."""
    dirs = [root / "core" / "src", *sorted((root / "plugins").glob("*/src"))]
    return [p for d in dirs for p in sorted(d.rglob("*.py"))]


def code_lines(source: str) -> list[tuple[int, str]]:
    """``(line number, text)`` of the lines that count: comments cut, white space folded;
    no blank lines, lone brackets, imports or docstrings."""
    tree = ast.parse(source)
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            skip.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) \
                and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            skip.update(range(body[0].lineno, (body[0].end_lineno or body[0].lineno) + 1))
    lines = source.splitlines()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            row, col = tok.start
            lines[row - 1] = lines[row - 1][:col]
    out = []
    for number, line in enumerate(lines, 1):
        text = " ".join(line.split())
        if number not in skip and text and not set(text) <= LONE:
            out.append((number, text))
    return out


def copies(files: list[Path], base: Path) -> dict[tuple[str, str], list[tuple[int, int]]]:
    """``{(file, other file): [(line, other line), …]}``: where a run of RUN lines of one
    file stands again in another (paths relative to ``base``, the pair sorted)."""
    places: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for path in files:
        name = str(path.relative_to(base))
        lines = code_lines(path.read_text())
        for i in range(len(lines) - RUN + 1):
            window = "\n".join(text for _, text in lines[i:i + RUN])
            places[hashlib.sha256(window.encode()).hexdigest()].append((name, lines[i][0]))
    found: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for where in places.values():
        for i, (a, line_a) in enumerate(where):
            for b, line_b in where[i + 1:]:
                if a != b:
                    pair, lines_ = ((a, b), (line_a, line_b)) if a < b else ((b, a), (line_b, line_a))
                    found[pair].append(lines_)
    return dict(found)


def allowed(pair: tuple[str, str]) -> bool:
    a, b = pair
    return any((fnmatch(a, x) and fnmatch(b, y)) or (fnmatch(a, y) and fnmatch(b, x))
               for x, y, _ in ALLOWED)


def test_no_logic_is_copied_between_modules() -> None:
    found = copies(sources(ROOT), ROOT)
    bad = [f"{a}:{lines[0][0]} ~ {b}:{lines[0][1]} ({len(lines) + RUN - 1}+ lines)"
           for (a, b), lines in sorted(found.items()) if not allowed((a, b))]
    assert not bad, "copied runs; fold each into one shared helper:\n" + "\n".join(bad)


def test_every_allowed_copy_is_still_there() -> None:
    """An ALLOWED entry whose copy is gone is removed from the list."""
    found = copies(sources(ROOT), ROOT)
    for x, y, _ in ALLOWED:
        assert any(allowed(pair) and any(fnmatch(p, x) for p in pair) for pair in found), (x, y)


def test_a_planted_copy_is_found(tmp_path: Path) -> None:
    logic = """
        def total(items):
            out = 0
            for item in items:
                if item.ok:
                    out += item.value
            return out * {scale}
    """
    core = tmp_path / "core" / "src" / "pkg"
    plugin = tmp_path / "plugins" / "extra" / "src" / "pkg_extra"
    core.mkdir(parents=True)
    plugin.mkdir(parents=True)
    (core / "a.py").write_text(
        '"""Module a."""\nimport os\n' + _dedent(logic.format(scale=2)) + "\nX = os.sep\n"
    )
    # the same lines, differently indented and spaced, with comments and a docstring added
    (plugin / "b.py").write_text(
        "from math import pi\n\nclass K:\n    '''Doc.'''\n"
        + "".join(f"    {line}   # note\n" if line.strip() else "\n"
                  for line in _dedent(logic.format(scale="2")).replace("out += ", "out  +=  ")
                  .splitlines())
    )
    (plugin / "c.py").write_text(_dedent(logic.format(scale=3)))  # the last line differs
    found = copies(sources(tmp_path), tmp_path)
    assert list(found) == [("core/src/pkg/a.py", "plugins/extra/src/pkg_extra/b.py")]
    assert found[("core/src/pkg/a.py", "plugins/extra/src/pkg_extra/b.py")] == [(3, 5)]


def test_imports_docstrings_and_brackets_are_not_copies(tmp_path: Path) -> None:
    trivial = '''
        """The same docstring,
        over several lines,
        in both modules,
        word for word,
        line for line,
        to the end."""
        from a import (
            b,
            c,
            d,
            e,
            f,
        )
        X = [
        ]
    '''
    for name in ("one", "two"):
        src = tmp_path / "plugins" / name / "src"
        src.mkdir(parents=True)
        (src / "m.py").write_text(_dedent(trivial))
    assert copies(sources(tmp_path), tmp_path) == {}


def _dedent(text: str) -> str:
    import textwrap

    return textwrap.dedent(text).lstrip("\n")
