"""``oceanfed audit`` on a real devnet federation: clean, then with a tampered sign-state."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from oceanfed_devnet.launcher import LocalFederation
from testsupport.cli import oceanfed

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stopped_fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    """A 2-of-3 federation that made a few blocks; the members are stopped, the devnet serves."""
    fed = LocalFederation(tmp_path_factory.mktemp("audit") / "fed", members=3, threshold=2,
                          block_time=0.2)
    try:
        fed.start()
        assert fed.wait_height(5, 60) >= 5, fed.log_tail("m0")
        for name in fed.members:
            assert fed.stop(name) == 0, fed.log_tail(name)
        yield fed
    finally:
        fed.close()


def _states(fed: LocalFederation) -> list[str]:
    return [str(fed.state_dirs[n]) for n in fed.members]


def test_a_clean_chain_has_no_finding(stopped_fed: LocalFederation) -> None:
    fed = stopped_fed
    out = oceanfed("audit", "--config", str(fed.layout.fed_toml("m0")))
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout == "" and "sign-states of m0: no findings" in out.stderr
    # bare directories: each member named itself in its status.json
    out = oceanfed("audit", "--config", str(fed.layout.fed_toml("m0")), "--states", *_states(fed))
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"blocks 0..{fed.height()}, sign-states of m0, m1, m2: no findings" in out.stderr
    out = oceanfed("audit", "--config", str(fed.layout.fed_toml("m1")), "--from", "3")
    assert out.returncode == 0 and f"blocks 3..{fed.height()}" in out.stderr, out.stderr


def test_a_sign_state_that_disagrees_with_the_chain_is_reported(
    stopped_fed: LocalFederation, tmp_path: Path
) -> None:
    fed = stopped_fed
    signed = fed.signed("m1")
    height = max(h for h in signed if h <= fed.height())
    copy = tmp_path / "m1-state"
    shutil.copytree(fed.state_dirs["m1"], copy)
    other = "ab" * 32
    db = sqlite3.connect(copy / "state.sqlite3")
    with db:
        db.execute("UPDATE signed SET block_hash = ? WHERE height = ?", (other, height))
    db.close()
    out = oceanfed("audit", "--config", str(fed.layout.fed_toml("m0")),
                   "--states", str(fed.state_dirs["m0"]), f"m1={copy}")
    assert out.returncode == 3, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert f"m1 agreed to sign {other} at {height}; the chain has another block" in lines
    assert all(line.startswith("m1 ") for line in lines), lines
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        (["/nonexistent/state"], "--states /nonexistent/state: /nonexistent/state holds no state.sqlite3 (not a member's state_dir)"),
        (["zz={m0}"], "--states zz={m0}: 'zz' is not in federation.members (m0, m1, m2)"),
        (["m0={m0}", "m0={m1}"], "--states: two state directories for member 'm0'"),
    ],
)
def test_bad_states_get_one_line(stopped_fed: LocalFederation, states: list[str], expected: str) -> None:
    fed = stopped_fed
    dirs = {n: str(fed.state_dirs[n]) for n in fed.members}
    out = oceanfed("audit", "--config", str(fed.layout.fed_toml("m0")),
                   "--states", *[s.format(**dirs) for s in states])
    assert out.returncode == 1, out.stdout + out.stderr
    assert out.stderr.strip() == f"oceanfed: error: {expected.format(**dirs)}"


@pytest.mark.parametrize("status", [None, "[]", "{}", "not json"])
def test_a_state_dir_that_does_not_name_its_member_gets_one_line(
    stopped_fed: LocalFederation, tmp_path: Path, status: str | None
) -> None:
    fed = stopped_fed
    copy = tmp_path / "state"
    shutil.copytree(fed.state_dirs["m0"], copy)
    (copy / "status.json").unlink(missing_ok=True)
    if status is not None:
        (copy / "status.json").write_text(status)
    out = oceanfed("audit", "--config", str(fed.layout.fed_toml("m0")), "--states", str(copy))
    assert out.returncode == 1, out.stdout + out.stderr
    assert out.stderr.strip() == (
        f"oceanfed: error: --states {copy}: cannot tell which member wrote it;"
        f" give it as NAME={copy}"
    )
