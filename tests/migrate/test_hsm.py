"""Upstream --hsm members on real SoftHSM2 tokens become the pkcs11 signer."""

from __future__ import annotations

from pathlib import Path

import pytest

from oceanfed.config import load_config
from oceanfed.crypto import pubkey_of
from oceanfed.keyfile import generate_private_key, read_private_key
from oceanfed_devnet.launcher import LocalFederation
from oceanfed_devnet.setup import free_ports
from testsupport.dists import install_dist

from .conftest import check, convert, upstream_args

softhsm = pytest.importorskip("oceanfed_pkcs11.softhsm")


@pytest.fixture
def token(tmp_path: Path) -> object:
    reason = softhsm.unavailable_reason()
    if reason:
        pytest.skip(reason)
    return softhsm.SoftHSMToken.create(tmp_path / "hsm", "fed-token", so_pin="so-8421",
                                       user_pin="pin-3579-x")


def hsm_env(token: object, label: str = "block") -> dict[str, str]:
    return {**token.env, "PKCS11_LIB": token.module, "KEY_LABEL": label,  # type: ignore[attr-defined]
            "USER_PIN": token.user_pin}  # type: ignore[attr-defined]


def other_cards(fed: LocalFederation, *indexes: int) -> str:
    return ",".join(f"{i}:{fed.layout.pubkeys[i]}:{pubkey_of(generate_private_key()).hex()}"
                    for i in indexes)


def test_hsm_member_becomes_the_pkcs11_signer(
    devnet3: LocalFederation, token: object, tmp_path: Path
) -> None:
    # upstream looked the key up as KEY_LABEL followed by --id
    token.import_key("block0", read_private_key(devnet3.layout.block_key_file("m0")))  # type: ignore[attr-defined]
    env = hsm_env(token)
    nodes = [f"127.0.0.1:{p}" for p in free_ports(3)]
    args = upstream_args(devnet3, "m0", 0, "--hsm", "1", msgtype="zmq", nodes=nodes)
    out = convert(tmp_path / "fed.toml", args, "--member-card", other_cards(devnet3, 1, 2),
                  env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    cfg = load_config(tmp_path / "fed.toml")
    opts = cfg.signer.options()
    assert cfg.signer.driver == "pkcs11"
    assert opts["library"] == token.module  # type: ignore[attr-defined]
    assert opts["token_label"] == "fed-token"
    assert opts["key_label"] == "block0"
    assert opts["pin_env"] == "USER_PIN"
    text = (tmp_path / "fed.toml").read_text()
    assert "pin-3579-x" not in text and "pin-3579-x" not in out.stdout
    assert f"pubkey {devnet3.layout.pubkeys[0]}" in " ".join(out.stdout.split())
    result = check(tmp_path / "fed.toml", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pubkey matches member m0" in result.stdout


def test_hsm_zero_still_means_the_hsm(
    devnet3: LocalFederation, token: object, tmp_path: Path
) -> None:
    token.import_key("block", read_private_key(devnet3.layout.block_key_file("m1")))  # type: ignore[attr-defined]
    out = convert(tmp_path / "fed.toml", upstream_args(devnet3, "m1", 1, "--hsm", "0"),
                  "--member-card", other_cards(devnet3, 0, 2), env=hsm_env(token))
    assert out.returncode == 0, out.stdout + out.stderr
    flat = " ".join(out.stdout.split())
    assert "upstream took --hsm '0' as true" in flat
    assert "no key labelled 'block1'" in flat  # fell back to KEY_LABEL alone
    cfg = load_config(tmp_path / "fed.toml")
    assert cfg.signer.driver == "pkcs11" and cfg.member.name == "m1"
    assert cfg.signer.options()["key_label"] == "block"


def test_hsm_key_outside_the_script(
    devnet3: LocalFederation, token: object, tmp_path: Path
) -> None:
    token.import_key("block1", generate_private_key())  # type: ignore[attr-defined]
    out = convert(tmp_path / "fed.toml", upstream_args(devnet3, "m1", 1, "--hsm", "1"),
                  env=hsm_env(token))
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "is not in the chain's signblockscript (2-of-3)" in lines[0]
    assert not (tmp_path / "transport.key").exists()


def test_hsm_label_missing_on_the_token(
    devnet3: LocalFederation, token: object, tmp_path: Path
) -> None:
    out = convert(tmp_path / "fed.toml", upstream_args(devnet3, "m1", 1, "--hsm", "1"),
                  env=hsm_env(token, label="nosuch"))
    assert out.returncode == 1
    assert "KEY_LABEL: no key labelled 'nosuch1'" in out.stderr


def test_the_hsm_key_is_asked_of_the_signer_plugins(
    devnet3: LocalFederation, tmp_path: Path
) -> None:
    """Another installed plugin answering ``oceanfed_upstream_hsm_key`` first gives the key and
    the [signer] table; the pkcs11 plugin (whose library here does not exist) is not asked."""
    site = tmp_path / "site"
    pub = devnet3.layout.pubkeys[1]
    install_dist(site, "other-hsm", "0.1", {"oceanfed.hooks": {"otherhsm": "other_hsm"}}, {
        "other_hsm": f"""
            from oceanfed.hookspecs import hookimpl
            from oceanfed.interfaces import HsmSignerTable

            @hookimpl(tryfirst=True)
            def oceanfed_upstream_hsm_key(hsm):
                assert (hsm.member_id, hsm.key_label, hsm.pin) == (1, "blk", "pin-3579-x")
                return HsmSignerTable(
                    bytes.fromhex("{pub}"), "soft", (("key_file", "other.key", "from other-hsm"),),
                    f"other-hsm asked with {{hsm!r}}", ("a note from other-hsm",))
        """})
    env = {"PYTHONPATH": str(site), "PKCS11_LIB": str(tmp_path / "no-such-lib.so"),
           "KEY_LABEL": "blk", "USER_PIN": "pin-3579-x"}
    out = convert(tmp_path / "fed.toml", upstream_args(devnet3, "m1", 1, "--hsm", "1"),
                  "--member-card", other_cards(devnet3, 0, 2), env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    flat = " ".join(out.stdout.split())
    assert "other-hsm asked with UpstreamHsm(member_id=1" in flat
    assert f"signs with pubkey {pub}" in flat and "a note from other-hsm" in flat
    assert "pin-3579-x" not in out.stdout + out.stderr + (tmp_path / "fed.toml").read_text()
    cfg = load_config(tmp_path / "fed.toml")
    assert cfg.signer.driver == "soft" and cfg.signer.options() == {"key_file": "other.key"}
    assert cfg.member.name == "m1"


def test_no_signer_plugin_for_the_hsm_is_one_line(
    devnet3: LocalFederation, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    # a real plugin that takes the pkcs11 plugin out of the hook manager, as if not installed
    install_dist(site, "no-pkcs11", "0.1", {"oceanfed.hooks": {"nopkcs11": "no_pkcs11"}}, {
        "no_pkcs11": """
            from oceanfed.hookspecs import hookimpl

            @hookimpl
            def oceanfed_add_hookspecs(pluginmanager):
                pluginmanager.unregister(name="pkcs11")
        """})
    env = {"PYTHONPATH": str(site), "PKCS11_LIB": str(tmp_path / "lib.so"), "KEY_LABEL": "blk"}
    out = convert(tmp_path / "fed.toml", upstream_args(devnet3, "m1", 1, "--hsm", "1"), env=env)
    assert out.returncode != 0
    assert out.stderr.strip().splitlines() == [
        "oceanfed: error: migrate: no installed signer plugin can read keys from an HSM; "
        "install oceanfed[hsm] (the pkcs11 signer plugin)"
    ]
    assert not (tmp_path / "fed.toml").exists()
