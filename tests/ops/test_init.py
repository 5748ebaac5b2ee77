"""``oceanfed init``: a commented fed.toml that loads, never overwriting."""

from __future__ import annotations

import re
from pathlib import Path

from oceanfed.cli.init_cmd import EXAMPLE, REQUIRED
from oceanfed.config import load_config
from oceanfed.configdoc import core_fields
from oceanfed.crypto import pubkey_of
from oceanfed.keyfile import generate_private_key
from oceanfed_soft.signer import SoftOptions
from oceanfed_zmq.options import ZmqOptions

from .conftest import oceanfed


def _members(n: int) -> list[str]:
    out = []
    for i in range(n):
        block, transport = generate_private_key(), generate_private_key()
        out += ["--member", f"m{i}:{pubkey_of(block).hex()}:{pubkey_of(transport).hex()}"]
    return out


def _init(path: Path, *extra: str) -> list[str]:
    return ["init", "--out", str(path), "--name", "m1", *_members(3),
            "--node-url", "http://127.0.0.1:7041/", "--node-user", "m1",
            "--bind", "tcp://0.0.0.0:7001", "--peer", "m0=tcp://10.0.0.1:7000",
            "--peer", "m2=tcp://10.0.0.3:7000", *extra]


def test_init_writes_a_commented_config_that_loads(tmp_path: Path) -> None:
    path = tmp_path / "fed.toml"
    out = oceanfed(*_init(path, "--metrics-listen", "127.0.0.1:9464"))
    assert out.returncode == 0, out.stderr
    cfg = load_config(path)
    assert cfg.member.name == "m1" and cfg.federation.threshold == 2
    assert cfg.messenger.options()["peers"] == {"m0": "tcp://10.0.0.1:7000", "m2": "tcp://10.0.0.3:7000"}
    assert cfg.metrics.listen == "127.0.0.1:9464"
    text = path.read_text()
    # every core field appears, set or commented out, under its description
    fields = [f for f in core_fields() if not f.path.endswith(".members")]
    for f in fields:
        key = f.path.rsplit(".", 1)[-1]
        assert f"\n{key} = " in text or f"\n# {key} =" in text, key
        assert f.description.split(";")[0][:40] in " ".join(text.replace("\n# ", " ").split())
    # optional zmq options are offered, commented out at their defaults
    assert "# heartbeat_ivl_ms = 1000" in text
    # uncommenting every offered default changes nothing: the comments tell the truth
    known = {f.path.rsplit(".", 1)[-1] for f in fields} | {"heartbeat_ivl_ms", "sndhwm", "backend"}
    lines = []
    for line in text.splitlines():
        m = re.match(r"# (\w+) = (.+)$", line)
        default = m and m.group(1) in known and not line.endswith((EXAMPLE, REQUIRED))
        lines.append(line[2:] if default else line)
    uncommented = tmp_path / "uncommented.toml"
    uncommented.write_text("\n".join(lines))
    again = load_config(uncommented)
    plugin_tables = {"base_dir", "messenger", "signer"}
    assert again.model_dump(exclude=plugin_tables) == cfg.model_dump(exclude=plugin_tables)
    assert ZmqOptions.model_validate(again.messenger.options()) == ZmqOptions.model_validate(
        cfg.messenger.options()
    )
    assert SoftOptions.model_validate(again.signer.options()) == SoftOptions.model_validate(
        cfg.signer.options()
    )


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "fed.toml"
    path.write_text("keep me\n")
    out = oceanfed(*_init(path))
    assert out.returncode == 1
    assert "already exists; not overwriting" in out.stderr
    assert path.read_text() == "keep me\n"


def test_init_without_a_terminal_asks_nothing(tmp_path: Path) -> None:
    path = tmp_path / "fed.toml"
    out = oceanfed("init", "--out", str(path), *_members(3), "--node-url", "http://h:1/")
    assert out.returncode == 1 and "--name is required" in out.stderr
    assert not path.exists()


def test_init_names_a_bad_value(tmp_path: Path) -> None:
    path = tmp_path / "fed.toml"
    out = oceanfed(*_init(path, "--threshold", "5"))
    assert out.returncode == 1
    assert "threshold 5 is above the number of members" in out.stderr
    out = oceanfed(*_init(path, "--signer", "soft", "--signer-opt", "backend=fast"))
    assert out.returncode == 1 and "signer.backend" in out.stderr
    assert not path.exists()
