"""Every distribution builds a wheel and an sdist; the extras install from wheels in a fresh venv.

Third-party dependencies come from the package index; ours only from the wheels built here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from email.message import Message
from email.parser import Parser
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DISTRIBUTIONS = {
    "core": "oceanfed",
    "plugins/messenger_zmq": "oceanfed_messenger_zmq",
    "plugins/messenger_kafka": "oceanfed_messenger_kafka",
    "plugins/signer_soft": "oceanfed_signer_soft",
    "plugins/signer_pkcs11": "oceanfed_signer_pkcs11",
    "plugins/inflation": "oceanfed_inflation",
    "plugins/devnet": "oceanfed_devnet",
}

def _run(
    cmd: list[str], timeout: float = 600, check_ok: bool = True, **kw: Any
) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    assert out.returncode == 0 or not check_ok, f"{' '.join(cmd)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


@pytest.fixture(scope="module")
def dist_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--wheel", "--sdist", "--outdir", str(out),
          str(ROOT / "core")])
    for d in list(DISTRIBUTIONS)[1:]:
        _run([sys.executable, "-m", "build", "--wheel", "--sdist", "--outdir", str(out), str(ROOT / d)])
    return out


def test_each_distribution_has_a_wheel_and_an_sdist(dist_dir: Path) -> None:
    for d, stem in DISTRIBUTIONS.items():
        wheels = list(dist_dir.glob(f"{stem}-*.whl"))
        sdists = list(dist_dir.glob(f"{stem}-*.tar.gz"))
        assert len(wheels) == 1 and len(sdists) == 1, (d, sorted(p.name for p in dist_dir.iterdir()))
        with zipfile.ZipFile(wheels[0]) as z:
            names = z.namelist()
            assert any(n.endswith("entry_points.txt") for n in names) or d == "plugins/inflation"
            assert not any("__pycache__" in n or "egg-info" in n for n in names)
        with tarfile.open(sdists[0]) as t:
            assert any(n.endswith("pyproject.toml") for n in t.getnames())


@pytest.fixture(scope="module")
def fresh_venv(dist_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A new venv with oceanfed[zmq,kafka,soft,hsm,inflation] from the wheels (no rich, no extras)."""
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
          "--find-links", str(dist_dir), "--only-binary", "oceanfed,oceanfed-messenger-zmq,"
          "oceanfed-messenger-kafka,oceanfed-signer-soft,oceanfed-signer-pkcs11,oceanfed-inflation",
          "oceanfed[zmq,kafka,soft,hsm,inflation]"], env=env)
    return venv, env


def test_extras_install_from_wheels_in_a_fresh_venv(
    fresh_venv: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    venv, env = fresh_venv
    py = venv / "bin" / "python"
    out = _run([str(venv / "bin" / "oceanfed"), "plugins", "--json"], env=env, cwd=tmp_path)
    found = json.loads(out.stdout)
    names = {title: {row["name"] for row in rows} for title, rows in found.items()}
    assert {"zmq", "kafka"} <= names["messengers"]
    assert {"node", "pkcs11", "pykcs11"} <= names["signers"]
    assert {"fixed-rate", "none"} <= names["inflation"]
    assert "hsm" in names["commands"]
    # installed from the wheels, not from the work tree
    where = _run([str(py), "-c", "import oceanfed, oceanfed_zmq; print(oceanfed.__file__, oceanfed_zmq.__file__)"],
                 env=env, cwd=tmp_path).stdout
    assert str(ROOT) not in where and str(venv) in where
    _run([str(venv / "bin" / "oceanfed"), "--version"], env=env, cwd=tmp_path)
    # python -m oceanfed is the same command
    assert _run([str(py), "-m", "oceanfed", "--version"], env=env, cwd=tmp_path).stdout.startswith(
        "oceanfed "
    )


def _metadata(dist_dir: Path, stem: str) -> Message:
    (wheel,) = dist_dir.glob(f"{stem}-*.whl")
    with zipfile.ZipFile(wheel) as z:
        (name,) = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")]
        return Parser().parsestr(z.read(name).decode())


def test_every_wheel_carries_the_mit_licence_urls_and_classifiers(dist_dir: Path) -> None:
    licence = (ROOT / "LICENSE").read_text()
    assert licence.startswith("MIT License") and "the oceanfed authors" in licence
    for d, stem in DISTRIBUTIONS.items():
        meta = _metadata(dist_dir, stem)
        assert meta["License-Expression"] == "MIT", d
        assert (ROOT / d / "LICENSE").read_text() == licence, d
        (wheel,) = dist_dir.glob(f"{stem}-*.whl")
        with zipfile.ZipFile(wheel) as z:
            (lic,) = [n for n in z.namelist() if n.endswith(".dist-info/licenses/LICENSE")]
            assert z.read(lic).decode() == licence
        urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL") or [])
        assert {"Homepage", "Repository", "Issues", "Documentation"} <= set(urls), d
        classifiers = meta.get_all("Classifier") or []
        assert "Programming Language :: Python :: 3 :: Only" in classifiers, d


def test_versions_and_dependency_bounds(dist_dir: Path) -> None:
    from oceanfed import __version__

    core = _metadata(dist_dir, "oceanfed")
    assert core["Version"] == __version__
    requires = core.get_all("Requires-Dist") or []
    plain = {r.split(";")[0].split(">")[0].split("=")[0].strip() for r in requires if "extra ==" not in r}
    assert "ecdsa" not in plain and "rich" not in plain and "tomlkit" in plain
    assert not any(r.startswith(("rich", "ecdsa")) for r in requires), requires
    for extra in ("devnet", "all", "demo", "bench"):
        assert any(r.startswith("oceanfed-devnet") and f"extra == \"{extra}\"" in r
                   for r in requires), (extra, requires)
    devnet = {r.split(";")[0].split(">")[0].strip() for r in
              _metadata(dist_dir, "oceanfed_devnet").get_all("Requires-Dist") or []}
    assert {"rich", "oceanfed-messenger-zmq", "oceanfed-signer-soft"} <= devnet, devnet
    for d, stem in list(DISTRIBUTIONS.items())[1:]:
        meta = _metadata(dist_dir, stem)
        core_req = [r for r in meta.get_all("Requires-Dist") or [] if re.match(r"oceanfed\b(?!-)", r)]
        assert core_req == ["oceanfed<0.2,>=0.1"], (d, core_req)
        assert "fast" not in (meta.get_all("Provides-Extra") or []), d


def _devnet_tooling(venv: Path, env: dict[str, str], dist_dir: Path, installed: bool) -> None:
    """Install oceanfed-devnet's wheel without its dependencies (so no rich), or remove it."""
    pip = [str(venv / "bin" / "python"), "-m", "pip", "-q", "--disable-pip-version-check"]
    if installed:
        _run([*pip, "install", "--no-deps", "--no-index", "--find-links", str(dist_dir),
              "oceanfed-devnet"], env=env)
    else:
        _run([*pip, "uninstall", "-y", "oceanfed-devnet"], env=env, check_ok=False)


def test_without_the_devnet_tooling_its_commands_say_how_to_install_it(
    fresh_venv: tuple[Path, dict[str, str]], dist_dir: Path, tmp_path: Path
) -> None:
    venv, env = fresh_venv
    _devnet_tooling(venv, env, dist_dir, installed=False)
    oceanfed = str(venv / "bin" / "oceanfed")
    helptext = _run([oceanfed, "--help"], env=env, cwd=tmp_path).stdout
    assert "not installed: pip install 'oceanfed[devnet]'" in helptext
    for args in (["devnet", "--members", "3", "--dir", "x"], ["demo"], ["bench", "--help"]):
        out = _run([oceanfed, *args], env=env, cwd=tmp_path, check_ok=False)
        assert out.returncode == 2 and out.stdout == "", (args, out)
        assert out.stderr == (f"oceanfed: {args[0]}: not installed; it comes with "
                              "pip install 'oceanfed[devnet]'\n"), (args, out.stderr)


def test_demo_on_a_terminal_without_rich_prints_plain_lines(
    fresh_venv: tuple[Path, dict[str, str]], dist_dir: Path, tmp_path: Path
) -> None:
    script = shutil.which("script")
    if script is None:
        pytest.skip("util-linux 'script' (runs the demo on a pseudo-terminal) is not installed")
    venv, env = fresh_venv
    _devnet_tooling(venv, env, dist_dir, installed=True)
    assert _run([str(venv / "bin" / "python"), "-c", "import rich"], timeout=60, env=env,
                cwd=tmp_path, check_ok=False).returncode != 0, "rich must be absent here"
    cmd = (f"{venv / 'bin' / 'oceanfed'} demo --blocks 1 --members 3 --threshold 2 --clients 0 "
           "--inflation-period 0 --block-time 0.2")
    log = tmp_path / "demo.out"
    with log.open("w") as out:
        done = subprocess.run([script, "-qec", cmd, "/dev/null"], stdin=subprocess.DEVNULL,
                              stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp_path,
                              timeout=300)
    text = log.read_text()
    assert done.returncode == 0, text[-3000:]
    assert "live table needs rich" in text and "summary: blocks 1" in text
    assert "Traceback" not in text
