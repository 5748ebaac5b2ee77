"""The migration against real nodes: five upstream zmq members converted with
``oceanfed init --from-upstream`` in two passes (cards, then configs), checked with
``oceanfed check`` against their oceand, then run for 10 blocks."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from oceanfed.audit import audit_chain, chain_headers, read_signed
from oceanfed.config import load_config
from oceanfed.netutil import free_ports
from oceanfed_devnet.launcher import LOCAL_ROUNDS, LocalFederation, set_table
from testsupport.cli import oceanfed
from testsupport.processes import stop_groups
from testsupport.realnode import same_chain_everywhere, wait_for

pytestmark = [pytest.mark.realnode, pytest.mark.slow]

CARD = re.compile(r"^member card: (\S+)$", re.M)
#: upstream id of script member i, deliberately not the script order
UPSTREAM_ID = [3, 0, 4, 1, 2]


def _upstream(fed: LocalFederation, name: str, nodes: list[str]) -> list[str]:
    i = fed.members.index(name)
    return [
        "--rpconnect", "127.0.0.1", "--rpcport", str(fed.layout.port(name)),
        "--rpcuser", name, "--rpcpassword", fed.layout.password(name),
        "--id", str(UPSTREAM_ID[i]), "--msgtype", "zmq", "--nodes", ",".join(nodes),
    ]


def test_two_pass_migration_then_ten_blocks(tmp_path: Path) -> None:
    fed = LocalFederation(tmp_path / "devnet", 5, 3, block_time=0.5, node="oceand")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        fed.start_devnet()
        nodes = [f"127.0.0.1:{p}" for p in free_ports(5)]  # indexed by upstream id
        out = {n: tmp_path / "configs" / n / "fed.toml" for n in fed.members}
        cards = []
        for name in fed.members:  # pass 1: each member's card, no config yet
            out[name].parent.mkdir(parents=True)
            first = oceanfed("init", "--from-upstream", "--out", str(out[name]), "--block-time",
                             "0.5", "--", *_upstream(fed, name, nodes))
            assert first.returncode == 0, first.stderr
            assert not out[name].exists()
            found = CARD.search(first.stdout)
            assert found, first.stdout
            cards.append(found.group(1))
        (tmp_path / "cards.txt").write_text("\n".join(cards) + "\n")
        for name in fed.members:  # pass 2: with every card, the config
            second = oceanfed("init", "--from-upstream", "--out", str(out[name]), "--block-time",
                              "0.5", "--member-cards", str(tmp_path / "cards.txt"), "--",
                              *_upstream(fed, name, nodes))
            assert second.returncode == 0, second.stdout + second.stderr
            cfg = load_config(out[name])
            assert cfg.member.name == name and cfg.signer.driver == "node"
            assert [m.pubkey for m in cfg.federation.members] == fed.layout.pubkeys
            assert fed.layout.password(name) not in out[name].read_text()
            checked = oceanfed("check", "--config", str(out[name]))
            assert checked.returncode == 0 and "all checks passed" in checked.stdout, (
                checked.stdout + checked.stderr)

        start = fed.height()
        for path in out.values():
            set_table(path, "rounds", LOCAL_ROUNDS)
            with open(path.parent / "run.log", "wb") as log:
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "oceanfed.cli.main", "run", "--config", str(path)],
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                ))
        wait_for(lambda: fed.height() >= start + 10, 180,
                 f"10 blocks from the converted members ({(out['m0'].parent / 'run.log').read_text()[-400:]})",
                 interval=0.25)
        assert all(p.poll() is None for p in procs)
        wait_for(lambda: all(int(fed.rpc(n).call("getblockcount")) >= start + 10
                             for n in fed.members), 60, "every node at the tip", interval=0.25)
        same_chain_everywhere(fed, start + 10)
        signed = {n: read_signed(out[n].parent / "state") for n in fed.members}
        assert all(signed.values())
        assert audit_chain(chain_headers(fed.rpc()), 3, signed, fed.members) == []
    finally:
        stop_groups(procs, timeout=15)
        fed.close()
