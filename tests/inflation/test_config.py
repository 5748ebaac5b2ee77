"""Bad ``[inflation]`` input: refused at start-up with one line naming the field, by
``oceanfed run`` itself (a real member process against a served devnet)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from oceanfed.config import load_config
from oceanfed.keyfile import generate_private_key, write_private_key
from oceanfed.member import plugin_context
from oceanfed.ocean.address import p2pkh_script, script_to_address
from oceanfed.plugins import load_signer
from oceanfed_devnet.launcher import replace_table
from oceanfed_inflation.engine import Inflation
from oceanfed_inflation.options import parse_options
from testsupport.cli import oceanfed

from .conftest import InflationNet, prepare

FILES = ("fed.toml", "block.key", "transport.key", "rpc.password", "reissuance.key", "curve.key")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InflationNet]:
    n = prepare(tmp_path_factory.mktemp("cfg") / "fed")
    try:
        yield n
    finally:
        n.fed.close()


def copy_with(net: InflationNet, tmp: Path, member: str, signer: dict[str, Any] | None = None,
              **changes: Any) -> Path:
    """A copy of ``member``'s directory with ``[inflation]`` changed; its fed.toml."""
    src = net.fed.layout.member_dir(member)
    for name in FILES:
        if (src / name).exists():
            (tmp / name).write_bytes((src / name).read_bytes())
            os.chmod(tmp / name, 0o600)
    table = {k: v for k, v in {**net.tables[member], **changes}.items() if v is not None}
    replace_table(tmp / "fed.toml", "inflation", table)
    if signer is not None:
        replace_table(tmp / "fed.toml", "signer", signer)
    return tmp / "fed.toml"


def run_with(net: InflationNet, tmp: Path, member: str, signer: dict[str, Any] | None = None,
             **changes: Any) -> str:
    """Run ``member`` from a copy of its directory with ``[inflation]`` changed; return
    the one error line."""
    proc = oceanfed("run", "--config", str(copy_with(net, tmp, member, signer, **changes)))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.startswith("oceanfed: error:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("member", "changes", "expected"),
    [
        ("m1", {"rate": -0.01}, "inflation.rate: must be >= 0"),
        ("m1", {"period": 0}, "inflation.period: Input should be greater than or equal to 1"),
        ("m1", {"address": "2dNotAnAddress"}, "inflation.address: '2dNotAnAddress' is not a base58check address"),
        ("m1", {"reissuance_script": "52ae"}, "inflation.reissuance_script: expected the hex of an M-of-N CHECKMULTISIG"),
        ("m1", {"reissuance_script": "zz"}, "inflation.reissuance_script: expected the hex"),
        ("m1", {"policy": "no-such"}, "inflation.policy: unknown policy 'no-such' (installed: fixed-rate, none"),
        ("m1", {"rate": None}, "inflation.rate: missing required key"),
        ("m1", {"colour": "blue"}, "inflation.colour: unknown key"),
        ("m1", {"assets": []}, "inflation.assets: expected a non-empty list of asset ids"),
        ("m1", {"assets": ["ab" * 31]}, f"inflation.assets: '{'ab' * 31}' is not an asset id (64 hex digits)"),
        ("m1", {"assets": ["ab" * 32, "AB" * 32]}, "inflation.assets: lists an asset twice"),
        ("m1", {"key_file": None}, "inflation: missing the reissuance key"),
        ("m0", {"key_file": "reissuance.key"}, "inflation: give key_file or key_source"),
    ],
)
def test_refused_at_start(prepared: InflationNet, tmp_path: Path, member: str,
                          changes: dict[str, Any], expected: str) -> None:
    assert expected in run_with(prepared, tmp_path, member, **changes)


def test_key_not_in_script(prepared: InflationNet, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger.key"
    write_private_key(stranger, generate_private_key())
    line = run_with(prepared, tmp_path, "m1", key_file=str(stranger))
    assert "inflation.key_file: the key in" in line
    assert "is not one of the 3 keys of the 2-of-3 inflation.reissuance_script" in line


def test_block_signer_not_in_script(prepared: InflationNet, tmp_path: Path) -> None:
    # m1's block key is not a reissuance key
    line = run_with(prepared, tmp_path, "m1", key_file=None, key_source="signer")
    assert "inflation.key_source: the block signer's key" in line


def test_signer_that_cannot_sign_digests(prepared: InflationNet, tmp_path: Path) -> None:
    # the node signer delegates to signblock: it signs headers, not transaction digests
    line = run_with(prepared, tmp_path, "m0", signer={"driver": "node"})
    assert "inflation.key_source: the block signer is unusable here: it cannot sign" in line


def test_key_file_mode(prepared: InflationNet, tmp_path: Path) -> None:
    loose = tmp_path / "loose.key"
    write_private_key(loose, generate_private_key())
    os.chmod(loose, 0o644)
    line = run_with(prepared, tmp_path, "m1", key_file=str(loose))
    assert line.startswith("oceanfed: error: inflation.key_file:") and "mode 0644" in line


def test_address_of_another_chain(prepared: InflationNet, tmp_path: Path) -> None:
    # a valid base58check bitcoin mainnet address: the node does not accept it
    line = run_with(prepared, tmp_path, "m1", address="1BoatSLRHtKNngkdXEeobR76b53LETtpyT")
    assert "inflation.address: '1BoatSLRHtKNngkdXEeobR76b53LETtpyT' is not a valid address" in line


def test_check_reports_the_inflation_table(prepared: InflationNet, tmp_path: Path) -> None:
    proc = oceanfed("check", "--config", str(copy_with(prepared, tmp_path, "m1",
                                                       assets=[prepared.asset])))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("ok     inflation:"))
    assert "policy fixed-rate, every" in line and "(2-of-3)" in line
    assert f"of asset(s) {prepared.asset[:16]}" in line
    assert "reissuance key from reissuance.key is in the script" in line
    assert "inflation.assets is unset" not in proc.stdout


def test_a_member_warns_at_start_while_every_asset_is_reissued(
    prepared: InflationNet, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for assets in (None, [prepared.asset]):
        where = tmp_path / ("unset" if assets is None else "listed")
        where.mkdir()
        cfg = load_config(copy_with(prepared, where, "m1", assets=assets))
        context = plugin_context(cfg)
        caplog.clear()
        with caplog.at_level("WARNING"):
            Inflation.start(cfg, context, load_signer(cfg.signer, context))
        warned = [r.getMessage() for r in caplog.records if "inflation.assets" in r.getMessage()]
        if assets is None:
            assert warned == [
                f"inflation.assets is unset: the federation reissues every token sent to "
                f"{prepared.p2sh}, whoever issued its asset; list the asset ids to reissue in "
                "[inflation] assets"]
        else:
            assert warned == []


def test_check_warns_while_every_asset_is_reissued(prepared: InflationNet, tmp_path: Path) -> None:
    """Without ``inflation.assets`` anyone who issues an asset can send its token to the
    reissuance address and have the federation reissue it: a warning, not a pass."""
    proc = oceanfed("check", "--config", str(copy_with(prepared, tmp_path, "m1")))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [line] = [x for x in proc.stdout.splitlines() if "inflation:" in x]
    assert line.startswith("warn   inflation: policy fixed-rate")
    assert line.endswith(
        f"inflation.assets is unset: the federation reissues every token sent to {prepared.p2sh}, "
        "whoever issued its asset; list the asset ids to reissue in [inflation] assets")
    assert proc.stdout.rstrip().splitlines()[-1].startswith("all checks passed (")


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"rate": -0.01}, "inflation.rate: must be >= 0"),
        ({"policy": "no-such"}, "inflation.policy: unknown policy 'no-such'"),
        ({"address": "1BoatSLRHtKNngkdXEeobR76b53LETtpyT"}, "is not a valid address on the node's chain"),
        ({"key_file": None, "key_source": "signer"}, "inflation.key_source: the block signer's key"),
    ],
)
def test_check_fails_on_a_bad_inflation_table(prepared: InflationNet, tmp_path: Path,
                                              changes: dict[str, Any], expected: str) -> None:
    proc = oceanfed("check", "--config", str(copy_with(prepared, tmp_path, "m1", **changes)))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr + proc.stdout
    failed = [x for x in proc.stdout.splitlines() if x.startswith("FAILED")]
    assert len(failed) == 1 and failed[0].startswith("FAILED inflation: ") and expected in failed[0]
    # the other checks still ran and passed
    assert "ok     signer:" in proc.stdout and "ok     node:" in proc.stdout


def test_options_model_defaults() -> None:
    address = script_to_address(p2pkh_script(bytes(20)))
    opts = parse_options({
        "rate": 0.02, "period": 10, "address": address,
        "reissuance_script": "5121" + "02" + "11" * 32 + "51ae", "key_source": "signer",
    })
    assert opts.policy == "fixed-rate" and str(opts.rate) == "0.02"
    assert opts.policy_options() == {}
