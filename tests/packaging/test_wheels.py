"""Every distribution builds a wheel and an sdist; the extras install from wheels in a fresh venv.

Third-party dependencies come from the package index; ours only from the wheels built here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import zipfile
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
}

def _run(cmd: list[str], timeout: float = 600, **kw: Any) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    assert out.returncode == 0, f"{' '.join(cmd)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
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


def test_extras_install_from_wheels_in_a_fresh_venv(dist_dir: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    py = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    _run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check",
          "--find-links", str(dist_dir), "--only-binary", "oceanfed,oceanfed-messenger-zmq,"
          "oceanfed-messenger-kafka,oceanfed-signer-pkcs11,oceanfed-inflation",
          "oceanfed[zmq,kafka,hsm,inflation]"], env=env)
    out = _run([str(venv / "bin" / "oceanfed"), "plugins", "--json"], env=env, cwd=tmp_path)
    found = json.loads(out.stdout)
    names = {title: {row["name"] for row in rows} for title, rows in found.items()}
    assert {"zmq", "kafka"} <= names["messengers"]
    assert {"node", "pkcs11", "pykcs11"} <= names["signers"]
    assert {"fixed-rate", "none"} <= names["inflation policies"]
    assert "hsm" in names["commands"]
    # installed from the wheels, not from the work tree
    where = _run([str(py), "-c", "import oceanfed, oceanfed_zmq; print(oceanfed.__file__, oceanfed_zmq.__file__)"],
                 env=env, cwd=tmp_path).stdout
    assert str(ROOT) not in where and str(venv) in where
    _run([str(venv / "bin" / "oceanfed"), "--version"], env=env, cwd=tmp_path)
