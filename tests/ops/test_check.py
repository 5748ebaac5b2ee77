"""``oceanfed check`` against a real devnet, and against broken configs."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from oceanfed.config import load_config
from oceanfed_devnet.launcher import LocalFederation, set_table
from oceanfed_devnet.setup import DevnetLayout, create_devnet, load_layout

from .conftest import oceanfed


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    fed = LocalFederation(tmp_path_factory.mktemp("check") / "fed", members=3, threshold=2)
    fed.start_devnet()
    try:
        yield fed
    finally:
        fed.close()


def _lines(stdout: str) -> dict[str, str]:
    """``{check name: status}`` from the text output."""
    out = {}
    for line in stdout.splitlines():
        m = re.match(r"(ok|warn|FAILED|skip)\s+([^:]+):", line)
        if m:
            out[m.group(2)] = m.group(1)
    return out


def _copy_member(layout: DevnetLayout, name: str, dest: Path) -> Path:
    shutil.copytree(layout.member_dir(name), dest)
    return dest / "fed.toml"


def test_check_passes_against_the_devnet(served: LocalFederation) -> None:
    out = oceanfed("check", "--config", str(served.layout.fed_toml("m0")))
    assert out.returncode == 0, out.stdout + out.stderr
    status = _lines(out.stdout)
    # the member never ran: its state_dir does not exist yet, which check points out
    assert status == {"config": "ok", "transport key": "ok", "state_dir": "warn", "node": "ok",
                      "signer": "ok", "messenger": "ok"}
    assert "all checks passed (1 warning)" in out.stdout
    assert "signblockscript matches 2-of-3" in out.stdout
    assert "pubkey matches member m0" in out.stdout


def test_check_json(served: LocalFederation) -> None:
    out = oceanfed("check", "--json", "--config", str(served.layout.fed_toml("m1")))
    assert out.returncode == 0, out.stdout
    results = json.loads(out.stdout)
    assert [r["status"] for r in results if r["status"] != "info"] == ["ok", "ok", "warn", "ok", "ok", "ok"]
    # where the file and the per-deployment values came from
    assert {r["name"] for r in results if r["status"] == "info"} >= {
        "config file", "member.state_dir", "metrics.listen", "log.level", "log.format"}


def test_every_bad_field_is_named(served: LocalFederation, tmp_path: Path) -> None:
    cfg = _copy_member(served.layout, "m0", tmp_path / "m0")
    set_table(cfg, "node", {"url": "ftp://nowhere", "timeout": -1})
    set_table(cfg, "rounds", {"propose_timeout": "soon"})
    set_table(cfg, "metrics", {"listen": "9464"})
    out = oceanfed("check", "--config", str(cfg))
    assert out.returncode == 1
    failed = [line for line in out.stdout.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 4, out.stdout
    assert any("metrics.listen" in line and "HOST:PORT" in line for line in failed)
    assert any("node.url" in line and "https?://" in line for line in failed)
    assert any("node.timeout" in line and "greater than 0" in line for line in failed)
    assert any("rounds.propose_timeout" in line and "number" in line for line in failed)


def test_wrong_password_and_wrong_signer_key(served: LocalFederation, tmp_path: Path) -> None:
    cfg = _copy_member(served.layout, "m0", tmp_path / "m0")
    (tmp_path / "m0" / "rpc.password").write_text("not-the-password\n")
    shutil.copy(served.layout.block_key_file("m1"), tmp_path / "m0" / "block.key")
    out = oceanfed("check", "--config", str(cfg))
    assert out.returncode == 1
    status = _lines(out.stdout)
    assert status["node"] == "FAILED" and status["signer"] == "FAILED"
    assert status["config"] == "ok" and status["transport key"] == "ok"
    assert "wrong RPC credentials" in out.stdout
    assert "not member m0's pubkey" in out.stdout
    assert "not-the-password" not in out.stdout + out.stderr


def test_node_of_another_federation_fails(served: LocalFederation, tmp_path: Path) -> None:
    other = create_devnet(tmp_path / "other", 3, 2)
    cfg = other.fed_toml("m0")
    set_table(cfg, "node", {"url": served.layout.url("m0")})
    shutil.copy(served.layout.password_file("m0"), other.password_file("m0"))
    out = oceanfed("check", "--config", str(cfg))
    assert out.returncode == 1
    assert _lines(out.stdout)["node"] == "FAILED"
    assert "signblockscript does not match" in out.stdout


def test_split_brain_warning_and_unreachable_node(tmp_path: Path) -> None:
    layout = create_devnet(tmp_path / "d", 4, 2)
    out = oceanfed("check", "--config", str(layout.fed_toml("m0")))
    status = _lines(out.stdout)
    assert status["federation.threshold"] == "warn"
    assert "refuses it unless federation.allow_split_brain = true" in out.stdout
    assert status["node"] == "FAILED" and "cannot reach node" in out.stdout
    assert out.returncode == 1
    run = oceanfed("run", "--config", str(layout.fed_toml("m0")))
    assert run.returncode == 1 and "allow_split_brain" in run.stderr


def test_run_refuses_a_taken_metrics_address(served: LocalFederation, tmp_path: Path) -> None:
    import socket

    cfg = _copy_member(served.layout, "m2", tmp_path / "m2")
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        port = holder.getsockname()[1]
        set_table(cfg, "metrics", {"listen": f"127.0.0.1:{port}"})
        check = oceanfed("check", "--config", str(cfg))
        assert _lines(check.stdout)["metrics.listen"] == "warn"
        run = oceanfed("run", "--config", str(cfg), timeout=30)
    finally:
        holder.close()
    assert run.returncode == 1
    assert f"metrics.listen: cannot listen on 127.0.0.1:{port} (address already in use)" in run.stderr
    assert "Traceback" not in run.stderr


def test_a_table_whose_plugin_is_missing_is_refused(served: LocalFederation, tmp_path: Path) -> None:
    # Without the inflation plugin, a member must not run as if [inflation] were absent: it
    # would propose without reissuances and sign blocks without checking them.
    from oceanfed.config import load_config
    from oceanfed.errors import ConfigError
    from oceanfed.plugins import check_tables, hook_manager

    path = _copy_member(served.layout, "m0", tmp_path / "m0")
    without = hook_manager(load_installed=False)
    check_tables(load_config(path), without)  # no [inflation]: nothing needed
    set_table(path, "inflation", {"period": 5})
    cfg = load_config(path)
    with pytest.raises(ConfigError, match=r"^inflation: no installed plugin reads an? \[inflation\] "
                       r"table \(hooks plugins installed: none\)"):
        check_tables(cfg, without)
    check_tables(cfg, hook_manager())  # installed here (it declares the table): accepted


def test_a_shared_transport_key_is_refused_naming_both_members(tmp_path: Path) -> None:
    layout = create_devnet(tmp_path / "d", 3, 2)
    path = layout.fed_toml("m0")
    keys = re.findall(r'^transport_pubkey = "([0-9a-f]{66})"', path.read_text(), re.M)
    path.write_text(path.read_text().replace(keys[2], keys[0]))
    expected = (f"{path}: federation: members 'm0' and 'm2' have the same transport_pubkey; "
                "each member needs its own transport key")
    out = oceanfed("check", "--config", str(path))
    assert out.returncode == 1
    assert out.stdout.splitlines()[0] == f"FAILED config: {expected}"
    run = oceanfed("run", "--config", str(path))
    assert run.returncode == 1
    assert run.stderr == f"oceanfed: error: {expected}\n"


@pytest.mark.parametrize("curve", [True, False])
def test_devnet_turns_curve_on_and_check_warns_without_it(tmp_path: Path, curve: bool) -> None:
    d = tmp_path / "d"
    out = oceanfed("devnet", "--members", "3", "--threshold", "2", "--dir", str(d),
                   *([] if curve else ["--no-curve"]))
    assert out.returncode == 0, out.stderr
    layout = load_layout(d)
    check = oceanfed("check", "--config", str(layout.fed_toml("m1")))
    line = next(x for x in check.stdout.splitlines() if "messenger:" in x)
    if curve:
        options = load_config(layout.fed_toml("m1")).messenger.options()
        assert sorted(options["curve_public_keys"]) == ["m0", "m1", "m2"]
        assert layout.curve_key_file("m1").stat().st_mode & 0o777 == 0o600
        assert _lines(check.stdout)["messenger"] == "ok", line
        assert line.endswith(", CURVE")
    else:
        assert not layout.curve_key_file("m1").exists()
        assert _lines(check.stdout)["messenger"] == "warn", line
        assert "CURVE is off: anyone who can reach this member's port reads every vote" in line
