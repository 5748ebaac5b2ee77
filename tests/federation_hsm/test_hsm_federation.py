"""A 3-of-5 federation with three members signing on SoftHSM2 tokens through both
PKCS#11 bindings, and a member whose token holds the wrong key."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from oceanfed.audit import signers_of
from oceanfed.keyfile import read_private_key
from oceanfed_devnet.launcher import LocalFederation

from .conftest import KEY_LABEL, HsmMember, make_token, use_hsm, verify_chain

pytestmark = [pytest.mark.slow, pytest.mark.hsm]

TARGET = 20


def _log(fed: LocalFederation, name: str) -> str:
    return (Path(fed.dir) / "logs" / f"{name}.log").read_text(errors="replace")


def test_mixed_signers_produce_blocks(
    hsm_federation: tuple[LocalFederation, list[HsmMember]],
) -> None:
    fed, hsm_members = hsm_federation
    for m in hsm_members:
        assert m.token.user_pin not in fed.layout.fed_toml(m.name).read_text()
        if m.pin_source == "file":
            pin_file = fed.layout.member_dir(m.name) / "hsm.pin"
            assert pin_file.stat().st_mode & 0o777 == 0o600
    fed.start_devnet()
    for m in hsm_members:
        fed.start_member(m.name, env=m.env())
    for name in ("m3", "m4"):
        fed.start_member(name)

    t0 = time.monotonic()
    reached = fed.wait_height(TARGET, timeout=60)
    elapsed = time.monotonic() - t0
    assert reached >= TARGET, f"only {reached} blocks in 60 s: {fed.log_tail('m0')}"
    for m in hsm_members:
        log = _log(fed, m.name)
        assert f"{m.driver} signer ready: token '{m.token.label}'" in log, fed.log_tail(m.name)

    # without the soft-key members only the three HSM signers can make a quorum
    assert fed.stop("m3") == 0 and fed.stop("m4") == 0
    base = fed.height()
    t1 = time.monotonic()
    hsm_only = fed.wait_height(base + 4, timeout=60)
    hsm_elapsed = time.monotonic() - t1
    assert hsm_only >= base + 4, f"the HSM members alone made no quorum: {fed.log_tail('m0')}"
    for m in hsm_members:
        assert fed.running(m.name), f"{m.name} exited: {fed.log_tail(m.name)}"
        assert fed.stop(m.name) == 0, fed.log_tail(m.name)

    blocks = verify_chain(fed)
    print(
        f"mixed signers: {reached} blocks in {elapsed:.1f} s; HSM members alone: "
        f"{hsm_only - base} blocks in {hsm_elapsed:.1f} s"
    )
    hsm_indexes = {fed.members.index(m.name) for m in hsm_members}
    # the blocks decided after m3 and m4 stopped carry HSM signatures only
    for block in blocks[base + 2 : hsm_only + 1]:
        assert set(signers_of(block.header)) == hsm_indexes, block.header.height
    # and each HSM member signed in the first part too
    signed_early = {i for b in blocks[1 : TARGET + 1] for i in signers_of(b.header)}
    assert hsm_indexes <= signed_early
    for m in hsm_members:
        log = _log(fed, m.name)
        assert m.token.user_pin not in log
        assert "Traceback" not in log


@pytest.mark.parametrize("driver", ["pkcs11", "pykcs11"])
def test_wrong_token_key_refuses_to_start(
    tmp_path: Path, softhsm_root: Path, driver: str
) -> None:
    fed = LocalFederation(tmp_path / "fed", 5, 3, block_time=1.0)
    with fed:
        token = make_token(softhsm_root, "m0")
        # the token holds m1's key under the label m0's config names
        token.import_key(KEY_LABEL, read_private_key(fed.layout.block_key_file("m1")))
        use_hsm(fed, HsmMember("m0", driver, token, "env"))
        fed.start_devnet()
        env = {**os.environ, **token.env, "OCEANFED_HSM_PIN": token.user_pin}
        proc = subprocess.run(
            [sys.executable, "-m", "oceanfed.cli.main", "run", "--config", str(fed.layout.fed_toml("m0"))],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    print(line)
    assert line.startswith("oceanfed: error: signer"), line
    assert "'m0'" in line and fed.layout.pubkeys[0] in line and fed.layout.pubkeys[1] in line, line
    assert "Traceback" not in proc.stderr + proc.stdout
    assert token.user_pin not in proc.stderr + proc.stdout
    assert not (fed.layout.member_dir("m0") / "state" / "state.sqlite3").exists()
