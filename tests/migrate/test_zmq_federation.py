"""Five upstream zmq members converted to fed.toml files run a 3-of-5 federation.

The upstream ids are deliberately not the script order, so the conversion must place
each peer's --nodes address by the upstream id on its member card.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from oceanfed.config import load_config
from oceanfed_devnet.launcher import LOCAL_ROUNDS, LocalFederation, set_table
from oceanfed_devnet.setup import free_ports
from testsupport.processes import stop_groups

from .conftest import card_of, check, convert, upstream_args

#: upstream id of script member i (member m0 was upstream --id 3, …)
UPSTREAM_ID = [3, 0, 4, 1, 2]


@pytest.fixture(scope="module")
def converted(devnet5: LocalFederation, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each member converted twice: once for its card, then with every card."""
    root = tmp_path_factory.mktemp("zmq-configs")
    ports = free_ports(5)
    nodes = [f"127.0.0.1:{p}" for p in ports]  # indexed by upstream id
    outs = {name: root / name / "fed.toml" for name in devnet5.members}
    cards = []
    for i, name in enumerate(devnet5.members):
        outs[name].parent.mkdir()
        args = upstream_args(devnet5, name, UPSTREAM_ID[i], msgtype="zmq", nodes=nodes)
        first = convert(outs[name], args, "--block-time", "0.5")
        assert first.returncode == 0, first.stderr
        assert not outs[name].exists()  # not ready before the other members' cards
        assert "needs the cards of" in first.stdout
        cards.append(card_of(first))
    (root / "cards.txt").write_text("# every member's card\n" + "\n".join(cards) + "\n")
    for i, name in enumerate(devnet5.members):
        args = upstream_args(devnet5, name, UPSTREAM_ID[i], msgtype="zmq", nodes=nodes)
        second = convert(outs[name], args, "--block-time", "0.5",
                         "--member-cards", str(root / "cards.txt"))
        assert second.returncode == 0, second.stdout + second.stderr
        assert outs[name].exists()
        outs[name].with_suffix(".report").write_text(second.stdout)
    return outs


def test_configs_follow_the_chain_and_the_nodes(
    devnet5: LocalFederation, converted: dict[str, Path]
) -> None:
    nodes: dict[int, str] = {}
    for i, name in enumerate(devnet5.members):
        cfg = load_config(converted[name])
        assert cfg.member.name == name  # named by script position, whatever the upstream id
        assert [m.pubkey for m in cfg.federation.members] == devnet5.layout.pubkeys
        assert cfg.federation.threshold == 3
        assert cfg.federation.block_time == 0.5
        assert cfg.signer.driver == "node"
        assert cfg.node.url == devnet5.layout.url(name)
        assert cfg.node.password_file == "rpc.password"
        opts = cfg.messenger.options()
        nodes[UPSTREAM_ID[i]] = opts["bind"].rsplit(":", 1)[1]
        assert set(opts["peers"]) == set(devnet5.members) - {name}
    for name in devnet5.members:
        peers = load_config(converted[name]).messenger.options()["peers"]
        for j, peer in enumerate(devnet5.members):
            if peer != name:  # each peer's address is the --nodes entry of its upstream id
                assert peers[peer] == f"tcp://127.0.0.1:{nodes[UPSTREAM_ID[j]]}"
    transport = {m.transport_pubkey for m in load_config(converted["m0"]).federation.members}
    assert len(transport) == 5
    for name in devnet5.members:  # every member lists the same transport keys
        assert {m.transport_pubkey for m in load_config(converted[name]).federation.members} == transport


def test_secrets_stay_out_and_reports_explain(
    devnet5: LocalFederation, converted: dict[str, Path]
) -> None:
    for i, name in enumerate(devnet5.members):
        path = converted[name]
        password = devnet5.layout.password(name)
        text = path.read_text()
        report = path.with_suffix(".report").read_text()
        assert password not in text and password not in report
        assert "--rpcpassword ***" in text
        pw_file = path.parent / "rpc.password"
        assert stat.S_IMODE(pw_file.stat().st_mode) == 0o600
        assert pw_file.read_text().strip() == password
        assert stat.S_IMODE((path.parent / "transport.key").stat().st_mode) == 0o600
        assert "zmq keeps its ports" in report
        assert f"upstream --id {UPSTREAM_ID[i]} is script entry {i} ({name})" in report
        assert "threshold: upstream fixed" not in report  # the chain says 3, as upstream did


def test_every_converted_config_passes_check(
    devnet5: LocalFederation, converted: dict[str, Path]
) -> None:
    for name, path in converted.items():
        out = check(path)
        assert out.returncode == 0, f"{name}: {out.stdout}{out.stderr}"
        assert "all checks passed" in out.stdout


@pytest.fixture
def running(converted: dict[str, Path]) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs = []
    for path in converted.values():
        set_table(path, "rounds", LOCAL_ROUNDS)  # loopback timing; the operator's choice
        log = open(path.parent / "run.log", "wb")  # noqa: SIM115 - owned by the child
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "oceanfed.cli.main", "run", "--config", str(path)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        ))
        log.close()
    try:
        yield procs
    finally:
        stop_groups(procs, timeout=10)


def test_five_converted_members_make_blocks(
    devnet5: LocalFederation, converted: dict[str, Path], running: list[subprocess.Popen[bytes]]
) -> None:
    start = devnet5.height()
    reached = devnet5.wait_height(start + 10, timeout=90)
    logs = {n: (p.parent / "run.log").read_text(errors="replace")[-800:] for n, p in converted.items()}
    assert reached >= start + 10, logs
    assert all(p.poll() is None for p in running), logs
    blocks = devnet5.blocks()
    for block in blocks[start + 1:]:  # all signed under the chain's own signblockscript
        assert block.header.challenge == blocks[0].header.challenge
        assert block.header.solution
    for name, path in converted.items():  # each member recorded what it signed
        assert (path.parent / "state" / "state.sqlite3").exists(), name
