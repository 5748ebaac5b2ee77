"""The images' HEALTHCHECK works without edits: the image turns metrics on through the
environment, on the one port the image exposes and the health check asks.

The images cannot be built here (no base image can be pulled), so a real member runs with
the image's environment (and a free port in place of 9464) and the HEALTHCHECK's own
command is run against it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from oceanfed.netutil import free_ports
from oceanfed_devnet.launcher import LocalFederation

ROOT = Path(__file__).resolve().parents[2]


def _image(name: str) -> tuple[dict[str, str], list[str], int]:
    """The Dockerfile's final ENV, its HEALTHCHECK command (exec form) and EXPOSEd port."""
    text = (ROOT / name).read_text().split("\nFROM ")[-1]
    env_block = re.search(r"^ENV (.*?)(?<!\\)\n", text, re.M | re.S)
    assert env_block, name
    env = dict(re.findall(r"(\w+)=(\S+)", env_block.group(1).replace("\\\n", " ")))
    check = re.search(r"^HEALTHCHECK [^\n]*\\\n\s*CMD (\[[^\n]*\])$", text, re.M)
    assert check, name
    (port,) = re.findall(r"^EXPOSE (\d+)$", text, re.M)
    return env, json.loads(check.group(1)), int(port)


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.hsm"])
def test_one_port_everywhere(name: str) -> None:
    env, _, port = _image(name)
    assert env["OCEANFED_METRICS_LISTEN"] == f"0.0.0.0:{port}"
    assert env["OCEANFED_HEALTH_URL"] == f"http://127.0.0.1:{port}/health"
    assert port == 9464
    for doc in ("README.md", "docs/operations.md"):
        text = (ROOT / doc).read_text()
        assert "9400" not in text and "9464" in text, doc


@pytest.mark.slow
def test_the_healthcheck_command_passes_against_a_member_run_as_the_image_runs_it(
    tmp_path: Path,
) -> None:
    env, check, port = _image("Dockerfile")
    (free,) = free_ports(1)
    member_env = {
        "OCEANFED_METRICS_LISTEN": env["OCEANFED_METRICS_LISTEN"].replace(str(port), str(free)),
    }
    health_env = {"OCEANFED_HEALTH_URL": env["OCEANFED_HEALTH_URL"].replace(str(port), str(free))}
    assert check[0] == "python"
    argv = [sys.executable, *check[1:]]
    with LocalFederation(tmp_path / "fed", members=3, threshold=2, block_time=0.5) as fed:
        assert "[metrics]" not in fed.layout.fed_toml("m0").read_text()
        fed.start(["m1", "m2"])
        fed.start_member("m0", env=member_env)
        deadline = time.monotonic() + 60
        while True:
            out = subprocess.run(argv, env=health_env, capture_output=True, text=True, timeout=30)
            if out.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert out.returncode == 0, out.stderr[-2000:] + fed.log_tail("m0")
        # and it fails once the member is gone: the check is not vacuous
        fed.stop("m0")
        out = subprocess.run(argv, env=health_env, capture_output=True, text=True, timeout=30)
        assert out.returncode != 0
