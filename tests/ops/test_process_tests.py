"""Process tests must hold on a busy machine: no child may block on a pipe nobody reads."""

from __future__ import annotations

import ast
import signal
import sys
from pathlib import Path

from testsupport.processes import Spawned

TESTS = Path(__file__).resolve().parents[1]
#: put in the Popen call of a test that closes the read end of its pipe at once, on purpose
MARK = "# read end closed at once"


def _unread_pipes(path: Path) -> list[str]:
    source = path.read_text()
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "Popen"):
            continue
        piped = [
            kw.arg for kw in node.keywords
            if kw.arg in ("stdout", "stderr")
            and isinstance(kw.value, ast.Attribute) and kw.value.attr == "PIPE"
        ]
        call = "\n".join(lines[node.lineno - 1 : node.end_lineno])
        if piped and MARK not in call:
            found.append(f"{path.relative_to(TESTS)}:{node.lineno} ({', '.join(piped)})")
    return found


def test_no_process_test_leaves_a_pipe_unread() -> None:
    """Popen with stdout/stderr=PIPE in a test: the test stops reading at some point, and a
    child that goes on writing blocks (the demo's SIGHUP test timed out that way). Use
    ``testsupport.processes.Spawned`` (output to files) instead."""
    offenders = [hit for path in sorted(TESTS.rglob("*.py")) for hit in _unread_pipes(path)]
    assert offenders == []


def test_a_chatty_child_never_blocks(tmp_path: Path) -> None:
    """A child that writes 4 MiB to each stream before its ready line is not held up."""
    chatty = (
        "import sys\n"
        "sys.stderr.write('e' * (4 << 20)); sys.stdout.write('o' * (4 << 20) + '\\n')\n"
        "print('ready', flush=True)\n"
        "import time; time.sleep(60)\n"
    )
    child = Spawned([sys.executable, "-c", chatty], tmp_path, "chatty")
    try:
        assert child.wait_for_line(lambda line: line == "ready", timeout=60) == "ready"
        assert len(child.stderr()) == 4 << 20
    finally:
        child.stop(signal.SIGKILL)
