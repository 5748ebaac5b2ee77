"""Every bad input to ``oceanfed init --from-upstream`` is one line naming it, exit 1."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from oceanfed.crypto import pubkey_of
from oceanfed.keyfile import generate_private_key
from oceanfed.netutil import free_ports
from oceanfed_devnet.launcher import LocalFederation

from .conftest import convert, upstream_args


def one_line_error(out: subprocess.CompletedProcess[str], *parts: str, secret: str = "") -> str:
    assert out.returncode == 1, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("oceanfed: error: "), lines[0]
    for part in parts:
        assert part in lines[0], lines[0]
    if secret:
        assert secret not in out.stderr + out.stdout
    return lines[0]


def test_unknown_upstream_flag(devnet3: LocalFederation, tmp_path: Path) -> None:
    args = upstream_args(devnet3, "m0", 0, "--blocktime", "30")
    one_line_error(convert(tmp_path / "fed.toml", args), "unknown flag --blocktime")
    assert not (tmp_path / "transport.key").exists()  # nothing written on bad input


def test_id_outside_nodes(devnet3: LocalFederation, tmp_path: Path) -> None:
    args = upstream_args(devnet3, "m0", 3, msgtype="zmq", nodes=["a:1", "b:2", "c:3"])
    one_line_error(convert(tmp_path / "fed.toml", args), "--id: 3 is outside --nodes")


def test_malformed_nodes_entry(devnet3: LocalFederation, tmp_path: Path) -> None:
    args = upstream_args(devnet3, "m0", 0, msgtype="zmq", nodes=["a:1", "b-2", "c:3"])
    one_line_error(convert(tmp_path / "fed.toml", args), "--nodes: entry 1 'b-2' is malformed")


@pytest.mark.parametrize("missing", ["PKCS11_LIB", "KEY_LABEL"])
def test_hsm_without_its_environment(
    devnet3: LocalFederation, tmp_path: Path, missing: str
) -> None:
    env = {"PKCS11_LIB": "/usr/lib/softhsm/libsofthsm2.so", "KEY_LABEL": "block", "USER_PIN": "1"}
    env[missing] = ""
    args = upstream_args(devnet3, "m0", 0, "--hsm", "1")
    one_line_error(convert(tmp_path / "fed.toml", args, env=env),
                   f"environment variable {missing} is not set")


def test_unreachable_node(devnet3: LocalFederation, tmp_path: Path) -> None:
    port = free_ports(1)[0]
    args = upstream_args(devnet3, "m0", 0)
    args[args.index("--rpcport") + 1] = str(port)
    password = devnet3.layout.password("m0")
    one_line_error(convert(tmp_path / "fed.toml", args),
                   f"upstream --rpconnect 127.0.0.1 --rpcport {port}", "cannot reach node",
                   secret=password)


def test_wrong_rpc_password(devnet3: LocalFederation, tmp_path: Path) -> None:
    args = upstream_args(devnet3, "m0", 0)
    args[args.index("--rpcpassword") + 1] = "wrong-password-123"
    one_line_error(convert(tmp_path / "fed.toml", args), "wrong RPC credentials",
                   secret="wrong-password-123")


def test_node_wallet_key_not_in_script(devnet3: LocalFederation, tmp_path: Path) -> None:
    # the m2 endpoint's wallet holds a key that the chain's script does not list
    args = upstream_args(devnet3, "m2", 2)
    one_line_error(convert(tmp_path / "fed.toml", args),
                   "wallet holds no key of the chain's signblockscript (2-of-3)")


def test_member_card_with_a_foreign_key(devnet3: LocalFederation, tmp_path: Path) -> None:
    stranger = pubkey_of(generate_private_key()).hex()
    transport = pubkey_of(generate_private_key()).hex()
    args = upstream_args(devnet3, "m0", 0)
    out = convert(tmp_path / "fed.toml", args, "--member-card", f"1:{stranger}:{transport}")
    one_line_error(out, f"block key {stranger} is not in the chain's signblockscript")


def test_member_card_claiming_this_members_key(devnet3: LocalFederation, tmp_path: Path) -> None:
    mine = devnet3.layout.pubkeys[0]
    transport = pubkey_of(generate_private_key()).hex()
    out = convert(tmp_path / "fed.toml", upstream_args(devnet3, "m0", 0),
                  "--member-card", f"1:{mine}:{transport}")
    one_line_error(out, "names this member's block key")


def test_malformed_member_card(devnet3: LocalFederation, tmp_path: Path) -> None:
    cards = tmp_path / "cards.txt"
    cards.write_text("1:02ab\n")
    out = convert(tmp_path / "fed.toml", upstream_args(devnet3, "m0", 0), "--member-cards", str(cards))
    one_line_error(out, f"{cards}:1: member card")


def test_existing_config_is_not_overwritten(devnet3: LocalFederation, tmp_path: Path) -> None:
    (tmp_path / "fed.toml").write_text("# mine\n")
    out = convert(tmp_path / "fed.toml", upstream_args(devnet3, "m0", 0))
    one_line_error(out, "already exists; not overwriting")
    assert (tmp_path / "fed.toml").read_text() == "# mine\n"


def test_upstream_args_need_the_flag(tmp_path: Path) -> None:
    from .conftest import oceanfed

    out = oceanfed("init", "--out", str(tmp_path / "fed.toml"), "--", "--rpconnect", "h")
    one_line_error(out, "add --from-upstream")
