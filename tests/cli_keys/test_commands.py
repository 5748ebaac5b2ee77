"""``oceanfed keygen``, ``script`` and ``plugins``, run as real subprocesses."""

from __future__ import annotations

import json
import stat
from importlib.metadata import version
from pathlib import Path

import zmq
from oceanfed.crypto import parse_pubkey, pubkey_of
from oceanfed.keyfile import read_private_key

from .conftest import install_hook_dist


def _one_line_error(proc, *needles: str) -> None:
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("oceanfed: error:")]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


# -- keygen ----------------------------------------------------------------------------------


def test_keygen_writes_0600_key_and_prints_its_pubkey(oceanfed, tmp_path: Path) -> None:
    out = tmp_path / "block.key"
    proc = oceanfed("keygen", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    printed = proc.stdout.strip()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    key = read_private_key(out)
    assert printed == pubkey_of(key).hex()
    assert parse_pubkey(printed).hex() == printed and printed[:2] in ("02", "03")
    assert key.hex() not in proc.stdout + proc.stderr


def test_keygen_refuses_overwrite_without_force(oceanfed, tmp_path: Path) -> None:
    out = tmp_path / "block.key"
    first = oceanfed("keygen", "--out", str(out))
    before = out.read_bytes()
    again = oceanfed("keygen", "--out", str(out))
    _one_line_error(again, str(out), "--force")
    assert out.read_bytes() == before
    forced = oceanfed("keygen", "--out", str(out), "--force")
    assert forced.returncode == 0
    assert out.read_bytes() != before
    assert forced.stdout.strip() == pubkey_of(read_private_key(out)).hex() != first.stdout.strip()


def test_keygen_show_reads_a_wif(oceanfed, tmp_path: Path, vector_keys) -> None:
    k = vector_keys[0]
    path = tmp_path / "migrated.key"
    path.write_text(k["wif_testnet_0xef"] + "\n")
    path.chmod(0o600)
    proc = oceanfed("keygen", "--show", "--out", str(path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == k["pubkey_hex"]
    path.chmod(0o644)
    _one_line_error(oceanfed("keygen", "--show", "--out", str(path)), str(path), "0644")


def test_keygen_curve_writes_a_z85_secret(oceanfed, tmp_path: Path) -> None:
    out = tmp_path / "curve.key"
    proc = oceanfed("keygen", "--curve", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    secret = out.read_text().strip().encode()
    public = proc.stdout.strip().encode()
    assert len(secret) == 40 and len(public) == 40
    assert zmq.curve_public(secret) == public
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert secret.decode() not in proc.stdout
    _one_line_error(oceanfed("keygen", "--curve", "--out", str(out)), "refusing to overwrite")


def test_keygen_needs_out(oceanfed) -> None:
    proc = oceanfed("keygen")
    assert proc.returncode == 2 and "--out" in proc.stderr and proc.stdout == ""


# -- script ----------------------------------------------------------------------------------


def test_script_matches_the_chain(oceanfed, vector_keys, vector_script: str) -> None:
    pubkeys = [k["pubkey_hex"] for k in vector_keys]
    proc = oceanfed("script", "--threshold", "2", *pubkeys)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == vector_script
    one = oceanfed("script", "--threshold", "1", pubkeys[1])
    assert one.stdout.strip() == "5121" + pubkeys[1] + "51ae"


def test_script_errors(oceanfed, vector_keys) -> None:
    pubkeys = [k["pubkey_hex"] for k in vector_keys]
    _one_line_error(oceanfed("script", "--threshold", "4", *pubkeys), "--threshold", "got 4")
    _one_line_error(oceanfed("script", "--threshold", "0", *pubkeys), "--threshold", "got 0")
    _one_line_error(oceanfed("script", "--threshold", "1", pubkeys[0], "02zz"), "PUBKEY #2", "hex")
    _one_line_error(oceanfed("script", "--threshold", "1", pubkeys[0][:-2]), "PUBKEY #1", "33-byte")
    off_curve = "02" + "00" * 32
    _one_line_error(oceanfed("script", "--threshold", "1", off_curve), "PUBKEY #1", "not a point")
    _one_line_error(oceanfed("script", "-m", "1", pubkeys[0], pubkeys[0]), "PUBKEY #2", "same key")
    missing = oceanfed("script", *pubkeys)
    assert missing.returncode == 2 and "--threshold" in missing.stderr


# -- plugins ---------------------------------------------------------------------------------


def test_plugins_lists_installed_distributions(oceanfed) -> None:
    proc = oceanfed("plugins")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    section = ""
    rows: dict[str, list[list[str]]] = {}
    for line in lines:
        if not line.startswith(" "):
            section = line.split(" (")[0]
        elif line.strip() != "(none)":
            rows.setdefault(section, []).append(line.split())
    assert set(rows) <= {"messengers", "signers", "inflation", "hooks", "commands"}
    assert ["zmq", "oceanfed-messenger-zmq", version("oceanfed-messenger-zmq")] in rows[
        "messengers"
    ]
    assert ["soft", "oceanfed-signer-soft", version("oceanfed-signer-soft")] in rows["signers"]
    assert ["node", "oceanfed", version("oceanfed")] in rows["signers"]
    as_json = json.loads(oceanfed("plugins", "--json").stdout)
    assert {
        "name": "zmq",
        "distribution": "oceanfed-messenger-zmq",
        "version": version("oceanfed-messenger-zmq"),
    } in as_json["messengers"]
    assert set(as_json) == {"messengers", "signers", "inflation", "hooks", "commands"}


def test_plugins_shows_a_hook_distribution(oceanfed, tmp_path: Path) -> None:
    """A real (if tiny) installed distribution with an ``oceanfed.hooks`` entry point."""
    dist = tmp_path / "site"
    install_hook_dist(dist, "audit-hooks", "1.2.3", "audit")
    env = {"PYTHONPATH": str(dist)}
    proc = oceanfed("plugins", env=env)
    assert proc.returncode == 0, proc.stderr
    hooks = proc.stdout.split("hooks (oceanfed.hooks):\n")[1].split("commands")[0]
    rows = [line.split() for line in hooks.strip().splitlines()]
    assert ["audit", "audit-hooks", "1.2.3"] in rows
