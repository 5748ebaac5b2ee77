"""Operations fixtures: a real local federation (devnet + member processes) with metrics on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from oceanfed_devnet.launcher import LocalFederation, set_table
from testsupport.cli import oceanfed
from testsupport.metrics import serve_metrics

#: seconds of node or peer silence before /health turns 503 in these tests
UNHEALTHY_AFTER = 2.0


class OpsFederation:
    """A 2-of-3 LocalFederation whose members serve /metrics; m0 logs JSON at debug level."""

    def __init__(self, directory: Path):
        self.fed = LocalFederation(directory, members=3, threshold=2, block_time=0.5)
        self.metrics_ports = serve_metrics(self.fed, UNHEALTHY_AFTER)
        set_table(self.fed.layout.fed_toml("m0"), "log", {"level": "debug", "format": "json"})

    def url(self, name: str, path: str) -> str:
        return f"http://127.0.0.1:{self.metrics_ports[name]}{path}"

    def config(self, name: str) -> str:
        return str(self.fed.layout.fed_toml(name))

    def status(self, name: str) -> dict[str, Any]:
        out = oceanfed("status", "--config", self.config(name), "--json")
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)


@pytest.fixture(scope="module")
def ops_fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpsFederation]:
    ops = OpsFederation(tmp_path_factory.mktemp("ops") / "fed")
    try:
        yield ops
    finally:
        ops.fed.close()
