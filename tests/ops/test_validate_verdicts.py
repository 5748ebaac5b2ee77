"""Only the node's verdict on a block marks it invalid; any other failure is retried.

The node here is a small JSON-RPC server over real HTTP whose ``testproposedblock`` answer
each case chooses (a real node answers -28 only while it warms up, which a test cannot time).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pluggy
import pytest

from oceanfed import hookspecs
from oceanfed.consensus import actions as A
from oceanfed.consensus import events as E
from oceanfed.driver import Driver
from oceanfed.errors import FatalError
from oceanfed.rpc import NodeClient
from testsupport.jsonrpc import ScriptedHandler, scripted_node


class _Handler(ScriptedHandler):
    #: (HTTP status, JSON error or None, raw body or None)
    answer: tuple[int, dict[str, Any] | None, bytes | None] = (200, None, None)

    def reply(self, request: dict[str, Any]) -> tuple[int, bytes]:
        status, error, raw = type(self).answer
        body = raw if raw is not None else json.dumps(
            {"result": None, "error": error, "id": request["id"]}).encode()
        return status, body


@pytest.fixture
def node() -> Iterator[NodeClient]:
    with scripted_node(_Handler) as client:
        yield client


def _validate(node: Any, hooks: Any = None) -> tuple[Driver, E.Event]:
    driver = Driver(None, node=node, signer=None, messenger=None, store=None, hooks=hooks)  # type: ignore[arg-type]
    driver._validate(A.Validate(7, "ab" * 32, "00"))
    event = driver.inbox.get_nowait()
    assert event is not None
    return driver, event


@pytest.mark.parametrize(("error", "reason"), [
    ({"code": -25, "message": "bad-txnmrklroot"}, "bad-txnmrklroot"),
    ({"code": -25, "message": "proposal was not based on our best chain"}, "stale"),
    ({"code": -25, "message": "already have block"}, "already-have-block"),
    ({"code": -22, "message": "Block decode failed"}, "undecodable"),
])
def test_the_nodes_verdict_marks_the_block_invalid(node: NodeClient, error: dict[str, Any], reason: str) -> None:
    _Handler.answer = (200, error, None)
    _, event = _validate(node)
    assert event == E.Validated(7, "ab" * 32, reason)


@pytest.mark.parametrize("answer", [
    (200, {"code": -28, "message": "Loading block index..."}, None),
    (200, {"code": -1, "message": "CheckProposal: internal error"}, None),
    (401, None, b""),
    (500, None, b"<html>Internal Server Error</html>"),
    (500, {"code": -32603, "message": "Internal error"}, None),
], ids=["warming-up", "-1", "http-401", "http-500", "-32603"])
def test_any_other_node_error_is_a_failure_to_retry(node: NodeClient, answer: Any) -> None:
    _Handler.answer = answer
    _, event = _validate(node)
    assert isinstance(event, E.NodeFailed) and (event.what, event.height) == ("validate", 7)


def test_an_unreachable_node_is_a_failure_to_retry() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = NodeClient(f"http://127.0.0.1:{port}/", "u", "p", retries=0, timeout=2)
    _, event = _validate(client)
    assert isinstance(event, E.NodeFailed) and event.what == "validate"


class _Veto:
    def __init__(self, behaviour: str):
        self.behaviour = behaviour

    @hookspecs.hookimpl
    def oceanfed_validate_proposal(self, height: int, block_hex: str, extras: dict[str, Any]) -> str | None:
        if self.behaviour == "veto":
            return "inflation-mismatch"
        if self.behaviour == "fatal":
            raise FatalError("the plugin cannot go on")
        if self.behaviour == "raise":
            raise ConnectionError("the plugin's own service is down")
        return None


def _hooks(behaviour: str) -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(_Veto(behaviour))
    return pm


def test_a_hooks_veto_stays_a_verdict_and_its_failure_does_not(node: NodeClient) -> None:
    _Handler.answer = (200, None, None)
    _, event = _validate(node, _hooks("veto"))
    assert event == E.Validated(7, "ab" * 32, "inflation-mismatch")
    _, event = _validate(node, _hooks("raise"))
    assert isinstance(event, E.NodeFailed) and event.what == "validate"
    _, event = _validate(node, _hooks("ok"))
    assert event == E.Validated(7, "ab" * 32, None)
    driver = Driver(None, node=node, signer=None, messenger=None, store=None, hooks=_hooks("fatal"))  # type: ignore[arg-type]
    driver._validate(A.Validate(7, "ab" * 32, "00"))
    assert driver.fatal == "the plugin cannot go on"
