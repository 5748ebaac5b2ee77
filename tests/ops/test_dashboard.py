"""packaging/grafana-dashboard.json: what Grafana requires of a dashboard, and every panel's
PromQL rendered against a real Prometheus scraping a running 2-of-3 federation.

Grafana itself is not installable here (no Debian, PyPI or npm package carries the server)
and no registry package carries its dashboard JSON schema (``@grafana/schema`` ships
TypeScript types only), so the first test checks the structure Grafana's dashboard model
needs. The second runs Debian's ``prometheus`` (installed by scripts/setup.sh when root)
with its own config and data directory on a free loopback port: every query must parse
and return a non-empty result after a few blocks.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testsupport.prometheus import PROMETHEUS, PrometheusServer

from .conftest import OpsFederation

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "packaging" / "grafana-dashboard.json"
#: Grafana's core panel types and variable types
PANEL_TYPES = {"stat", "timeseries", "table", "heatmap", "bargauge", "gauge", "barchart",
               "piechart", "state-timeline", "status-history", "text", "row", "logs", "histogram"}
VARIABLE_TYPES = {"datasource", "query", "custom", "constant", "interval", "textbox", "adhoc"}
#: what Grafana puts in place of its built-in variables, for a 1 s scrape interval
BUILTINS = {"__rate_interval": "20s", "__interval": "5s", "__range": "5m"}


def _dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def _targets(dashboard: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield panel["title"], target["refId"], target["expr"]


def test_dashboard_has_what_grafana_requires() -> None:
    d = _dashboard()
    assert isinstance(d["title"], str) and d["title"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,40}", d["uid"]), d["uid"]  # Grafana's uid rule
    assert isinstance(d["schemaVersion"], int) and d["schemaVersion"] >= 36
    assert "id" not in d or d["id"] is None  # an id would bind it to one Grafana's database
    assert set(d["time"]) == {"from", "to"}
    assert isinstance(d["annotations"]["list"], list)
    variables = d["templating"]["list"]
    names = [v["name"] for v in variables]
    assert len(names) == len(set(names))
    for v in variables:
        assert v["type"] in VARIABLE_TYPES, v
    panels = d["panels"]
    ids = [p["id"] for p in panels]
    assert all(isinstance(i, int) for i in ids) and len(ids) == len(set(ids))
    cells: dict[tuple[int, int], str] = {}
    for p in panels:
        assert p["type"] in PANEL_TYPES, (p["title"], p["type"])
        assert isinstance(p["title"], str) and p["title"]
        g = p["gridPos"]
        assert all(isinstance(g[k], int) for k in "xywh"), p["title"]
        assert g["x"] >= 0 and g["y"] >= 0 and g["w"] > 0 and g["h"] > 0, p["title"]
        assert g["x"] + g["w"] <= 24, f"{p['title']}: wider than Grafana's 24 columns"
        for x in range(g["x"], g["x"] + g["w"]):  # no two panels on one grid cell
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = p["title"]
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        for key in ("fieldConfig", "options"):
            assert isinstance(p.get(key, {}), dict), (p["title"], key)
        refs = [t["refId"] for t in p["targets"]]
        assert refs and len(refs) == len(set(refs)), p["title"]
        for t in p["targets"]:
            assert isinstance(t["expr"], str) and t["expr"].strip(), p["title"]
            for var in re.findall(r"\$\{?(\w+)", t["expr"]):
                assert var in names or var in BUILTINS, (p["title"], var)


def _render(expr: str) -> str:
    """The query Grafana sends with every member selected (``$instance`` = its allValue)."""
    out = expr.replace("${instance}", ".*").replace("$instance", ".*")
    for name, value in BUILTINS.items():
        out = out.replace(f"${name}", value)
    assert "$" not in out, out
    return out


@pytest.mark.slow
def test_every_query_returns_data_from_a_real_prometheus(tmp_path: Path, ops_fed: OpsFederation) -> None:
    if PROMETHEUS is None:
        pytest.skip("prometheus is not installed (Debian package 'prometheus'; scripts/setup.sh "
                    "installs it when run as root)")
    fed = ops_fed.fed
    fed.start()
    targets = [f"127.0.0.1:{port}" for port in ops_fed.metrics_ports.values()]
    queries = [(title, ref, _render(expr)) for title, ref, expr in _targets(_dashboard())]
    with PrometheusServer(tmp_path / "prometheus", targets) as prom:
        assert fed.wait_height(6, 90) >= 6, fed.log_tail("m0")
        # the Member variable: Grafana's label_values(oceanfed_build_info, instance)
        deadline = time.monotonic() + 60
        while True:
            up = prom.query('up{job="oceanfed"} == 1')
            members = prom.api("label/instance/values", **{"match[]": "oceanfed_build_info"})
            if len(up) == len(targets) and sorted(members) == sorted(targets):
                break
            assert time.monotonic() < deadline, f"scrapes: {up}, instances: {members}"
            time.sleep(0.5)
        # every query parses at once; each has data once a few blocks were scraped
        for _title, _ref, expr in queries:
            prom.query(expr)
        empty = queries
        deadline = time.monotonic() + 90
        while empty:
            empty = [(t, r, e) for t, r, e in empty if not prom.query(e)]
            if empty and time.monotonic() > deadline:
                raise AssertionError(f"queries without data after height {fed.height()}: {empty}")
            time.sleep(1)
        height = prom.query(_render('max(oceanfed_height{instance=~"$instance"})'))
        print(f"{len(queries)} dashboard queries answered by Prometheus at height "
              f"{height[0]['value'][1]} (chain {fed.height()})")
        assert float(height[0]["value"][1]) >= 5
