"""A running federation seen by an operator: status, /metrics, /health, SIGTERM, JSON logs.

The tests share one federation and run in file order: start, observe, stop m0, cut m1 off
from its peers, stop the node.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from oceanfed.statestore import StateStore
from testsupport.metrics import health_until, http_get

from .conftest import UNHEALTHY_AFTER, OpsFederation, oceanfed

ROOT = Path(__file__).resolve().parents[2]


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_status_of_a_running_member(ops_fed: OpsFederation) -> None:
    fed = ops_fed.fed
    fed.start()
    assert fed.wait_height(4, 60) >= 4, fed.log_tail("m0")
    s = ops_fed.status("m0")
    assert s["running"] is True and s["source"] == "status.json"
    assert s["node"]["height"] >= 4
    assert s["sign_state"]["height"] >= 3
    assert set(s["peers_seen"]) == {"m1", "m2"}
    assert all(age < 5 for age in s["peers_seen"].values())
    assert s["last_signed"]["height"] >= 3
    out = oceanfed("status", "--config", ops_fed.config("m1"))
    assert out.returncode == 0, out.stderr
    assert "running     yes" in out.stdout and "peers seen  m0" in out.stdout
    assert "sign-state  height" in out.stdout


def test_metrics_after_some_blocks(ops_fed: OpsFederation) -> None:
    fed = ops_fed.fed
    h = fed.wait_height(fed.height() + 2, 30)
    code, text = http_get(ops_fed.url("m1", "/metrics"))
    assert code == 200
    s = _samples(text)
    assert s[("oceanfed_height", ())] >= h - 1
    assert s[("oceanfed_rounds_total", (("outcome", "block"),))] >= 1
    made = s[("oceanfed_signatures_made_total", ())]
    assert made >= h - 2
    assert s[("oceanfed_signatures_received_total", ())] >= 1
    assert s[("oceanfed_round_latency_seconds_count", ())] == s[
        ("oceanfed_rounds_total", (("outcome", "block"),))
    ]
    assert ("oceanfed_messenger_reconnects_total", ()) in s
    assert s[("oceanfed_rpc_errors_total", ())] == 0
    assert ("oceanfed_peer_last_seen_timestamp_seconds", (("peer", "m0"),)) in s
    assert "# TYPE oceanfed_round_latency_seconds histogram" in text
    code, body = http_get(ops_fed.url("m1", "/health"))
    assert code == 200, body
    assert json.loads(body)["status"] == "ok"


def test_metrics_show_the_federation(ops_fed: OpsFederation) -> None:
    from oceanfed import __version__

    fed = ops_fed.fed
    fed.wait_height(fed.height() + 2, 30)
    code, text = http_get(ops_fed.url("m1", "/metrics"))
    assert code == 200
    s = _samples(text)
    blocks = s[("oceanfed_rounds_total", (("outcome", "block"),))]
    per_peer = {p: s[("oceanfed_peer_signatures_total", (("peer", p),))] for p in fed.members}
    # every accepted block carries at least M = 2 signatures, each counted for its member
    assert sum(per_peer.values()) >= 2 * blocks >= 2
    assert all(v <= blocks for v in per_peer.values())
    last = {p: s[("oceanfed_peer_last_signed_height", (("peer", p),))] for p in fed.members}
    assert max(last.values()) >= s[("oceanfed_height", ())] - 1
    assert 0 <= s[("oceanfed_missing_signers", ())] <= 1
    assert s[("oceanfed_build_info", (("chain", "ocean_test"), ("member", "m1"),
                                      ("version", __version__)))] == 1
    # one name per thing: rounds_total{outcome="block"} is the count of accepted blocks
    assert not any(name == "oceanfed_blocks_submitted_total" for name, _ in s)
    # the messenger's counters are counters, its current values gauges
    assert "# TYPE oceanfed_messenger_sent_total counter" in text
    assert "# TYPE oceanfed_messenger_peers_connected gauge" in text
    assert s[("oceanfed_messenger_peers_connected", ())] == 2
    assert s[("oceanfed_messenger_sent_total", ())] >= 1
    assert "oceanfed_messenger_stat" not in text


def test_every_dashboard_query_names_metrics_a_member_exports(ops_fed: OpsFederation) -> None:
    """packaging/grafana-dashboard.json: well formed, and every oceanfed_* name in its
    queries is a series a running member serves (checked against a real scrape)."""
    dashboard = json.loads((ROOT / "packaging" / "grafana-dashboard.json").read_text())
    assert dashboard["uid"] and dashboard["schemaVersion"] >= 36
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    code, text = http_get(ops_fed.url("m1", "/metrics"))
    assert code == 200
    exported = set()
    for family in text_string_to_metric_families(text):
        exported.add(family.name)
        if family.type == "counter":  # declared, even before its first labelled sample
            exported.add(family.name + "_total")
        exported.update(s.name for s in family.samples)
    titles = set()
    for panel in panels:
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"]) and panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}"
        titles.add(panel["title"])
        for target in panel["targets"]:
            expr = target["expr"]
            assert expr.count("(") == expr.count(")"), expr
            for var in re.findall(r"\$(\w+)", expr):
                assert var in variables or var.startswith("__"), (panel["title"], var)
            names = set(re.findall(r"\boceanfed_[a-z0-9_]+", expr))
            assert names, (panel["title"], expr)
            assert names <= exported, (panel["title"], names - exported)
    for wanted in ("Chain height", "Block interval", "Round latency histogram", "Rounds by outcome",
                   "Peers reachable"):
        assert wanted in titles
    assert any(t.startswith("Who signed each block") for t in titles)


def test_status_over_http_is_what_oceanfed_status_shows(ops_fed: OpsFederation) -> None:
    shown = ops_fed.status("m1")
    code, body = http_get(ops_fed.url("m1", "/status"))
    assert code == 200, body
    served = json.loads(body)
    assert set(served) == set(shown)
    assert served["member"] == "m1" and served["running"] is True and served["source"] == "live"
    assert served["chain"] == shown["chain"] and served["federation"] == "2-of-3"
    assert set(served["peers_seen"]) == {"m0", "m2"}
    assert served["sign_state"]["height"] >= shown["sign_state"]["height"]  # asked later
    assert served["node"]["height"] >= shown["node"]["height"] - 2
    assert served["last_signed"]["height"] >= 1


def test_sigterm_stops_cleanly_and_flushes_state(ops_fed: OpsFederation) -> None:
    fed = ops_fed.fed
    assert fed.stop("m0") == 0, fed.log_tail("m0")
    state_dir = fed.layout.member_dir("m0") / "state"
    last = json.loads((state_dir / "status.json").read_text())
    assert last["running"] is False
    db = sqlite3.connect(state_dir / "state.sqlite3")
    stored = json.loads(db.execute("SELECT value FROM state WHERE key='member'").fetchone()[0])
    db.close()
    assert stored["sign_state"]["height"] == last["sign_state"]["height"] >= 3
    assert stored["sign_state"]["block_hash"] == last["sign_state"]["block_hash"]
    StateStore(state_dir).close()  # the lock was released
    log = (fed.dir / "logs" / "m0.log").read_text()
    assert "received SIGTERM" in log and "stopped cleanly" in log


def test_status_of_a_stopped_member(ops_fed: OpsFederation) -> None:
    s = ops_fed.status("m0")
    assert s["running"] is False and s["source"] == "state database"
    assert s["sign_state"]["height"] >= 3
    assert s["node"]["height"] >= s["sign_state"]["height"]
    assert s["last_signed"]["height"] == s["sign_state"]["height"]


def test_json_logs_hold_no_secret(ops_fed: OpsFederation) -> None:
    fed = ops_fed.fed
    layout = fed.layout
    secrets = [
        layout.password("m0"),
        layout.block_key_file("m0").read_text().strip(),
        layout.transport_key_file("m0").read_text().strip(),
    ]
    lines = (fed.dir / "logs" / "m0.log").read_text().splitlines()
    assert len(lines) > 10
    records = [json.loads(line) for line in lines]
    assert {"ts", "level", "logger", "msg"} <= set(records[0])
    assert any(r["level"] == "debug" for r in records)
    # structured fields: every record names the member and chain once it runs; an accepted
    # block's line carries its height, round, proposer and hash; the core's lines their height
    running = [r for r in records if r.get("member") == "m0"]
    assert running and all(r["chain"] == "ocean_test" for r in running)
    accepted = [r for r in records if "accepted (proposer" in r["msg"]]
    assert accepted
    for r in accepted:
        assert isinstance(r["height"], int) and isinstance(r["round"], int)
        assert r["proposer"] in fed.members and len(r["block"]) == 64
        assert r["block"][:16] in r["msg"]
    decided = [r for r in records if ": decided " in r["msg"]]
    assert decided and all(r["block"] in r["msg"] and f"height {r['height']}:" in r["msg"]
                           and isinstance(r["round"], int) for r in decided)
    text = "\n".join(lines)
    for secret in secrets:
        assert secret and secret not in text


def _health_until(ops_fed: OpsFederation, name: str, code: int, timeout: float) -> dict[str, Any]:
    return health_until(ops_fed.url(name, "/health"), code, timeout)


def test_health_of_a_member_cut_off_from_every_peer(ops_fed: OpsFederation) -> None:
    # Over ZMQ the peers are the transport: without a connection to any, the member's
    # messenger is unreachable. Its node still answers.
    fed = ops_fed.fed
    for name in ("m0", "m2"):
        if fed.running(name):
            fed.stop(name)
    details = _health_until(ops_fed, "m1", 503, UNHEALTHY_AFTER + 10)
    assert any(r.startswith("messenger unreachable for ") for r in details["reasons"])
    assert not any("node" in r for r in details["reasons"])
    assert details["messenger_outage"] > UNHEALTHY_AFTER
    fed.start(["m0", "m2"])
    details = _health_until(ops_fed, "m1", 200, 30)
    assert details["status"] == "ok" and details["messenger_outage"] == 0.0


def test_health_turns_503_when_the_node_is_gone(ops_fed: OpsFederation) -> None:
    fed = ops_fed.fed
    code, _ = http_get(ops_fed.url("m1", "/health"))
    assert code == 200
    fed.kill("devnet")
    deadline = time.monotonic() + UNHEALTHY_AFTER + 10
    code, body = http_get(ops_fed.url("m1", "/health"))
    while code == 200 and time.monotonic() < deadline:
        time.sleep(0.2)
        code, body = http_get(ops_fed.url("m1", "/health"))
    assert code == 503, body
    details = json.loads(body)
    assert any("node unreachable" in r for r in details["reasons"])
    assert details["node_age"] >= UNHEALTHY_AFTER  # rounded to the millisecond
    code, text = http_get(ops_fed.url("m1", "/metrics"))
    assert code == 200
    assert _samples(text)[("oceanfed_rpc_errors_total", ())] >= 1
