"""The example third-party plugin distribution builds, installs, and passes its own tests.

It is installed into a throwaway venv layered over the project's environment (so oceanfed
and the test tools come from there), never into the project's environment itself.
"""

from __future__ import annotations

import json
import os
import re
import site
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "oceanfed-messenger-udp"


def _run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)
    assert out.returncode == 0, f"{' '.join(map(str, cmd))}:\n{out.stdout[-4000:]}\n{out.stderr[-3000:]}"
    return out


@pytest.fixture(scope="module")
def layered_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("example") / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    py = venv / "bin" / "python"
    purelib = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    # see the project's packages (and their editable finders) after the venv's own
    (purelib / "_project_env.pth").write_text(
        "".join(f"import site; site.addsitedir({p!r})\n" for p in site.getsitepackages())
    )
    wheels = tmp_path_factory.mktemp("wheels")
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", str(wheels), str(EXAMPLE)])
    (wheel,) = wheels.glob("oceanfed_messenger_udp_example-*.whl")
    _run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", str(wheel)])
    return py


def test_the_plugins_are_listed(layered_python: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = _run([str(layered_python), "-m", "oceanfed.cli.main", "plugins", "--json"], env=env)
    found = json.loads(out.stdout)
    messengers = {r["name"]: r["distribution"] for r in found["messengers"]}
    hooks = {r["name"]: r["distribution"] for r in found["hooks"]}
    assert messengers["udp-example"] == "oceanfed-messenger-udp-example"
    assert hooks["audit-example"] == "oceanfed-messenger-udp-example"
    where = _run([str(layered_python), "-c", "import oceanfed_udp_example as m; print(m.__file__)"], env=env)
    assert str(EXAMPLE) not in where.stdout  # the installed wheel, not the source tree


def test_the_examples_own_tests_pass(layered_python: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = _run([str(layered_python), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                "--rootdir", str(EXAMPLE), "-c", str(EXAMPLE / "pyproject.toml"),
                str(EXAMPLE / "tests"), "--basetemp", str(tmp_path / "t")], env=env, cwd=tmp_path)
    m = re.search(r"(\d+) passed", out.stdout)
    assert m and int(m.group(1)) >= 4 and "failed" not in out.stdout, out.stdout
