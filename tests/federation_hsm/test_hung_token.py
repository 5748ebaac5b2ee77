"""A member whose SoftHSM2 token hangs (:class:`testsupport.tokenlock.TokenLock`): at start,
in ``oceanfed check`` and while it signs."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from oceanfed_devnet.launcher import LocalFederation, set_table
from testsupport.cli import oceanfed
from testsupport.tokenlock import TokenLock
from testsupport.waiting import free_port, wait_until

from .conftest import HsmMember

pytestmark = [pytest.mark.slow, pytest.mark.hsm]

STUCK_AFTER = 2.0

def _log(fed: LocalFederation, name: str) -> str:
    return (Path(fed.dir) / "logs" / f"{name}.log").read_text(errors="replace")


def _health(port: int) -> tuple[int, dict]:  # type: ignore[type-arg]
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def test_a_hung_token_is_reported_holds_one_request_and_does_not_stop_shutdown(
    hsm_federation: tuple[LocalFederation, list[HsmMember]],
) -> None:
    fed, hsm_members = hsm_federation
    m0 = hsm_members[0]
    port = free_port()
    set_table(fed.layout.fed_toml("m0"), "metrics",
              {"listen": f"127.0.0.1:{port}", "unhealthy_after": STUCK_AFTER})
    fed.start_devnet()
    for m in hsm_members:
        fed.start_member(m.name, env=m.env())
    for name in ("m3", "m4"):
        fed.start_member(name)
    wait_until(lambda: fed.height() >= 3, timeout=60, what="the first blocks")

    def busy() -> dict | None:  # type: ignore[type-arg]
        status = fed.status("m0") or {}
        return status.get("signer_busy")

    with TokenLock(m0.token):
        # the others go on; m0's signer is stuck in C_Sign from its next height on
        base = fed.height()
        wait_until(lambda: fed.height() >= base + 6, timeout=60, what="blocks while m0's token hangs")
        wait_until(lambda: (b := busy()) is not None and b["seconds"] > STUCK_AFTER,
                   timeout=30, what="m0's status to show the signer busy")
        wait_until(lambda: "has not returned for" in _log(fed, "m0"), timeout=30,
                   what="m0 to log the hung signer")
        code, health = _health(port)
        assert code == 503 and any("signer has not returned" in r for r in health["reasons"]), health
        # one request waits behind the stuck call; each newer height's replaced it
        status = fed.status("m0") or {}
        assert status["signs_superseded"] >= 3, status
    # released: the stuck call returns, m0 signs again and says so
    wait_until(lambda: "has returned; signing again" in _log(fed, "m0"), timeout=30,
               what="m0 to log that its signer returned")
    wait_until(lambda: busy() is None, timeout=30, what="m0's signer to be idle")
    wait_until(lambda: _health(port)[0] == 200, timeout=30, what="m0 healthy again")
    assert fed.running("m0")

    with TokenLock(m0.token):
        base = fed.height()
        wait_until(lambda: fed.height() >= base + 2, timeout=60, what="blocks while m0's token hangs")
        wait_until(lambda: busy() is not None, timeout=30, what="m0's signer stuck again")
        t0 = time.monotonic()
        assert fed.stop("m0") == 0, fed.log_tail("m0", 20)
        took = time.monotonic() - t0
    log = _log(fed, "m0")
    assert "stopping without closing the signer" in log, log[-2000:]
    assert "Traceback" not in log and m0.token.user_pin not in log
    print(f"m0 stopped in {took:.1f} s with a call stuck in its token")
    assert took < 8  # LocalFederation.stop sends SIGKILL after 10 s


def test_a_token_hung_at_start_is_named_by_run_and_by_check(
    hsm_federation: tuple[LocalFederation, list[HsmMember]],
) -> None:
    """SoftHSM2 blocks in C_Initialize while its files are locked: ``oceanfed run`` waited
    there without a word, and ``oceanfed check`` hung (Ctrl-C cannot reach a call in C)."""
    fed, hsm_members = hsm_federation
    m0 = hsm_members[0]
    fed.start_devnet()
    with TokenLock(m0.token):
        fed.start_member("m0", env=m0.env())
        t0 = time.monotonic()
        check = oceanfed("check", "--config", str(fed.layout.fed_toml("m0")), "--timeout", "3",
                         env=m0.env(), timeout=60)
        took = time.monotonic() - t0
        wait_until(lambda: "signer: loading driver 'pkcs11' has taken 10 s so far" in _log(fed, "m0"),
                   timeout=60, what="run to say that loading the signer is slow")
        assert fed.running("m0")
    out = check.stdout + check.stderr
    print(out)
    assert check.returncode == 1, out
    line = next(x for x in check.stdout.splitlines() if x.startswith("FAILED signer:"))
    assert "no answer within 3 s" in line and "token or HSM" in line, line
    assert took < 30, took
    assert "Traceback" not in out and m0.token.user_pin not in out
    # released, the member goes on starting and signs
    wait_until(lambda: "pkcs11 signer ready" in _log(fed, "m0"), timeout=60, what="m0's signer ready")
    assert "Traceback" not in _log(fed, "m0")
