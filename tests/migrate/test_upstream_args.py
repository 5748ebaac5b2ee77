"""Parsing the upstream command line as the upstream daemon parsed it."""

from __future__ import annotations

import pytest

from oceanfed.errors import ConfigError
from oceanfed.migrate.upstream import parse_nodes, parse_upstream, redact

BASE = ["--rpconnect", "10.0.0.3", "--rpcport", "18443", "--rpcuser", "ocean",
        "--rpcpassword", "s3cret-pw", "--id", "1"]


def test_defaults_match_upstream() -> None:
    up = parse_upstream(["--", *BASE])
    assert up.msgtype == "kafka" and up.nodes == [] and not up.hsm and not up.inflation
    assert up.node_url == "http://10.0.0.3:18443/"
    assert "s3cret-pw" not in repr(up)


def test_prefixes_are_accepted_as_upstream_did() -> None:
    up = parse_upstream(["--rpconnect", "h", "--rpcport", "1", "--rpcuser", "u", "--rpcpass", "p",
                         "--id", "0", "--msg", "zmq", "--nodes", "a:1,b:2"])
    assert up.rpcpassword == "p" and up.msgtype == "zmq"
    assert [n.tcp() for n in up.nodes] == ["tcp://a:1", "tcp://b:2"]


@pytest.mark.parametrize("value", ["1", "0", "false", "no"])
def test_any_non_empty_hsm_is_true(value: str) -> None:
    up = parse_upstream([*BASE, "--hsm", value])
    assert up.hsm and up.hsm_raw == value


def test_empty_hsm_is_false() -> None:
    assert not parse_upstream([*BASE, "--hsm", ""]).hsm


def test_unknown_flag_is_named_and_its_value_hidden() -> None:
    with pytest.raises(ConfigError) as err:
        parse_upstream([*BASE, "--rpcpasword", "typo-secret"])
    msg = str(err.value)
    assert "unknown flag --rpcpasword" in msg and "typo-secret" not in msg
    assert "\n" not in msg


@pytest.mark.parametrize(
    ("nodes", "named"),
    [("node0:1503,node1", "entry 1 'node1'"), ("node0:1503,:7", "entry 1 ':7'"),
     ("node0:99999", "entry 0 'node0:99999'"), ("node0:15x3", "entry 0"), ("a:1,,b:2", "entry 1")],
)
def test_malformed_nodes_entry_is_named(nodes: str, named: str) -> None:
    with pytest.raises(ConfigError, match="upstream --nodes") as err:
        parse_nodes(nodes)
    assert named in str(err.value)


def test_id_outside_nodes() -> None:
    with pytest.raises(ConfigError, match=r"--id: 2 is outside --nodes, which has 2 entries"):
        parse_upstream([*BASE[:-1], "2", "--msgtype", "zmq", "--nodes", "a:1,b:2"])
    with pytest.raises(ConfigError, match=r"--id: 5 is outside the 5 members upstream assumed"):
        parse_upstream([*BASE[:-1], "5"])


def test_zmq_needs_nodes_and_msgtype_is_checked() -> None:
    with pytest.raises(ConfigError, match="--nodes: required with --msgtype zmq"):
        parse_upstream([*BASE, "--msgtype", "zmq"])
    with pytest.raises(ConfigError, match="--msgtype: expected kafka or zmq"):
        parse_upstream([*BASE, "--msgtype", "mqtt"])


def test_missing_required_flag_and_bad_port() -> None:
    with pytest.raises(ConfigError, match="--rpcuser"):
        parse_upstream(["--rpconnect", "h", "--rpcport", "1", "--rpcpassword", "p", "--id", "0"])
    with pytest.raises(ConfigError, match="--rpcport: 70000 is not a TCP port"):
        parse_upstream([*BASE[:2], "--rpcport", "70000", *BASE[4:]])


def test_redaction_hides_secret_values() -> None:
    argv = [*BASE, "--reissuanceprivkey=cWif", "--rpcpass", "other"]
    shown = " ".join(redact(argv))
    assert "s3cret-pw" not in shown and "cWif" not in shown and "other" not in shown
    assert "--rpcpassword ***" in shown and "--reissuanceprivkey=***" in shown
