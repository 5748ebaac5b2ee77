"""Fixtures for the upstream migration: devnets served as real processes, and helpers that
run ``oceanfed init --from-upstream`` and ``oceanfed check`` as real CLI subprocesses."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from oceanfed_devnet.launcher import LocalFederation
from testsupport.cli import oceanfed

CARD = re.compile(r"^member card: (\S+)$", re.M)


def upstream_args(
    fed: LocalFederation,
    name: str,
    upstream_id: int,
    *extra: str,
    msgtype: str | None = None,
    nodes: Sequence[str] = (),
) -> list[str]:
    """The upstream command line of the member whose node endpoint is ``name``."""
    layout = fed.layout
    args = [
        "--rpconnect", "127.0.0.1",
        "--rpcport", str(layout.rpc_ports[layout.members.index(name)]),
        "--rpcuser", name,
        "--rpcpassword", layout.password(name),
        "--id", str(upstream_id),
    ]
    if msgtype:
        args += ["--msgtype", msgtype]
    if nodes:
        args += ["--nodes", ",".join(nodes)]
    return [*args, *extra]


def convert(
    out: Path, upstream: Sequence[str], *init_args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``oceanfed init --from-upstream --out OUT INIT_ARGS -- UPSTREAM``."""
    return oceanfed("init", "--from-upstream", "--out", str(out), *init_args, "--", *upstream,
                    env=env)


def card_of(result: subprocess.CompletedProcess[str]) -> str:
    found = CARD.search(result.stdout)
    assert found, result.stdout + result.stderr
    return found.group(1)


def check(config: Path, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return oceanfed("check", "--config", str(config), env=env)


@pytest.fixture(scope="module")
def devnet5(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    """A served 3-of-5 devnet (its own member configs are not used)."""
    fed = LocalFederation(tmp_path_factory.mktemp("mig5") / "devnet", members=5, threshold=3,
                          block_time=0.5)
    fed.start_devnet()
    try:
        yield fed
    finally:
        fed.close()


@pytest.fixture(scope="module")
def devnet3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFederation]:
    """A served 2-of-3 devnet whose m2 endpoint's wallet holds a key outside the script."""
    from oceanfed.keyfile import generate_private_key, write_private_key

    fed = LocalFederation(tmp_path_factory.mktemp("mig3") / "devnet", members=3, threshold=2)
    write_private_key(fed.layout.block_key_file("m2"), generate_private_key(), force=True)
    fed.start_devnet()
    try:
        yield fed
    finally:
        fed.close()
