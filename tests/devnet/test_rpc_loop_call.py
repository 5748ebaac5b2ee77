"""Node calls the driver's loop carries itself (:meth:`NodeClient.begin`, :class:`LoopCall`):
written and read without blocking, by the same exact reader, within the same deadline, and
a failed attempt goes on by the same retry rules (a submitblock is never sent twice).

The node is a raw loopback HTTP/1.1 server that keeps its connections, answers each request
with the next scripted answer (cut into pieces when asked), or not at all.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time
from typing import Any

import pytest

from oceanfed.errors import RPCError
from oceanfed.rpc import LoopCall, NodeClient


class KeptNode:
    """Answers request i with ``answers[i]`` (None: reads it and never answers; b"":
    closes the connection), sent ``piece`` bytes at a time with a pause between pieces;
    with ``hang_up``, closes each connection once it has answered on it."""

    def __init__(self, answers: list[bytes | None], piece: int = 0, hang_up: bool = False) -> None:
        self.answers = answers
        self.piece = piece
        self.hang_up = hang_up
        self.methods: list[bytes] = []
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/"
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(ConnectionError):  # the client may close first
            buf = b""
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length")))
                while len(buf) < length:
                    buf += conn.recv(65536)
                body, buf = buf[:length], buf[length:]
                self.methods.append(body.split(b'"method": "')[1].split(b'"')[0])
                answer = self.answers.pop(0) if self.answers else None
                if answer is None:
                    continue  # never answers this one
                if not answer:
                    return
                step = self.piece or len(answer)
                for i in range(0, len(answer), step):
                    conn.sendall(answer[i : i + step])
                    if self.piece:
                        time.sleep(0.002)
                if self.hang_up:
                    return

    def close(self) -> None:
        self.listener.close()


def _ok(result: bytes) -> bytes:
    body = b'{"result": %s, "error": null, "id": 1}' % result
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


def _loop_client(node: KeptNode, timeout: float = 5.0, retries: int = 2) -> NodeClient:
    """A client whose loop connection is ready: lent by a first call made on a thread."""
    client = NodeClient(node.url, "u", "p", retries=retries, timeout=timeout)
    assert client.begin("getblockcount") is None  # no connection yet: nothing sent
    assert node.methods == []
    assert client.call("getblockcount") == 0
    return client


def _run(call: LoopCall) -> int:
    """Drive ``call`` as the loop does (its fd in a wait, its deadline the wait's end);
    the number of times it was moved on before it ended."""
    turns = 0
    with selectors.DefaultSelector() as selector:
        selector.register(call.fd, selectors.EVENT_READ)
        while True:
            turns += 1
            if call.progress():
                return turns
            selector.select(max(0.0, call.deadline - time.monotonic()))


def test_a_loop_call_reads_a_trickled_answer_and_keeps_the_connection() -> None:
    big = b'"' + b"ab" * 3000 + b'"'
    node = KeptNode([_ok(b"0"), _ok(b"7"), _ok(big), _ok(b"null")], piece=500)
    client = _loop_client(node)
    try:
        call = client.begin("getblockchaininfo")
        assert call is not None
        assert call.progress() is False  # nothing there yet: it returns, it does not wait
        assert _run(call) > 1  # the answer came in pieces, each read as it came
        assert call.failure is None and call.result() == 7
        for expected in (big.decode().strip('"'), None):
            call = client.begin("submitblock", "00")
            assert call is not None
            _run(call)
            assert call.result() == expected
        assert node.connections == 1  # the kept connection, lent once, went back each time
        assert node.methods == [b"getblockcount", b"getblockchaininfo", b"submitblock", b"submitblock"]
    finally:
        client.close()
        node.close()


def test_a_node_error_on_the_loop_is_the_same_rpcerror() -> None:
    body = b'{"result": null, "error": {"code": -25, "message": "bad-txnmrklroot"}, "id": 1}'
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    node = KeptNode([_ok(b"0"), answer, answer])
    client = _loop_client(node)
    try:
        call = client.begin("testproposedblock", "00")
        assert call is not None
        _run(call)
        with pytest.raises(RPCError) as on_loop:
            call.result()
        with pytest.raises(RPCError) as on_thread:
            client.call("testproposedblock", "00")
        assert (str(on_loop.value), on_loop.value.code) == (str(on_thread.value), -25)
    finally:
        client.close()
        node.close()


def test_a_silent_node_ends_a_loop_call_by_its_deadline_and_a_submit_is_not_resent() -> None:
    node = KeptNode([_ok(b"0"), None])
    client = _loop_client(node, timeout=0.5)
    try:
        call = client.begin("submitblock", "00")
        assert call is not None
        _run(call)
        assert call.failure is not None
        with pytest.raises(RPCError) as info:
            client.resume(call)
        assert str(info.value) == (
            f"lost connection to node at {node.url} during submitblock "
            "(no complete answer within node.timeout = 0.5s)"
        )
        assert info.value.code is None
        assert node.methods == [b"getblockcount", b"submitblock"]  # sent once
    finally:
        client.close()
        node.close()


@pytest.mark.parametrize(("answer", "expected"), [
    (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"a" * (2**20 + 2**17),
     "an answer over node.max_answer_bytes (1048576 bytes)"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n{",
     "an answer of 99999999999 bytes, over node.max_answer_bytes (1048576)"),
])
def test_a_loop_call_reads_no_answer_over_the_limit(answer: bytes, expected: str) -> None:
    node = KeptNode([_ok(b"0"), answer])
    client = NodeClient(node.url, "u", "p", retries=0, timeout=30, max_answer=2**20)
    assert client.begin("getblockcount") is None
    assert client.call("getblockcount") == 0
    try:
        call = client.begin("getblockchaininfo")
        assert call is not None
        _run(call)
        assert call.failure is not None
        with pytest.raises(RPCError) as info:
            client.resume(call)
        assert str(info.value) == f"lost connection to node at {node.url} during getblockchaininfo ({expected})"
    finally:
        client.close()
        node.close()


def test_a_read_only_loop_call_that_lost_its_connection_is_retried_on_a_thread() -> None:
    node = KeptNode([_ok(b"0"), b"", _ok(b"5")])
    client = _loop_client(node)
    try:
        call = client.begin("getblockchaininfo")
        assert call is not None
        _run(call)
        assert call.failure == ("the node closed the connection without answering", True)
        assert client.resume(call) == 5  # on a new connection
        assert node.methods == [b"getblockcount", b"getblockchaininfo", b"getblockchaininfo"]
        assert node.connections == 2
    finally:
        client.close()
        node.close()


def _hung_up(sock: socket.socket) -> None:
    """Wait until the node's end of the connection has reached ``sock`` (it reads as ready)."""
    with selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_READ)
        assert selector.select(5.0), "the node's hang-up never arrived"


def test_a_connection_the_node_closed_is_never_used_for_a_submit() -> None:
    """An idle kept-alive connection the node closed is found out before anything is sent
    on it: a submitblock sent there would be lost, and it is never sent twice."""
    node = KeptNode([_ok(b"0"), _ok(b"null"), _ok(b"0"), _ok(b"null")], hang_up=True)
    client = _loop_client(node)  # the connection is lent to the loop; then the node closes it
    try:
        _hung_up(client._loop_conns[0].sock)
        assert client.begin("submitblock", "00") is None  # nothing sent on the closed one
        assert node.methods == [b"getblockcount"]
        assert client.call("submitblock", "00") is None  # on a thread, a new connection
        # a thread's own kept connection, closed by the node while idle: replaced, not used
        assert client.call("getblockcount") == 0
        _hung_up(client._local.conn.sock)
        assert client.call("submitblock", "00") is None
        assert node.methods == [b"getblockcount", b"submitblock", b"getblockcount", b"submitblock"]
        assert node.connections == 4
    finally:
        client.close()
        node.close()


def test_https_calls_stay_on_threads() -> None:
    client = NodeClient("https://127.0.0.1:1/", "u", "p")
    assert client.begin("getblockcount") is None
    assert client._loop_wants is False and client._loop_conns == []


def _record_handoffs(driver: Any) -> list[Any]:
    """What ``driver`` hands its RPC threads from now on (each still runs)."""
    handed: list[Any] = []
    submit = driver._rpc_pool.submit
    driver._rpc_pool.submit = lambda *a: handed.append(a) or submit(*a)
    return handed


def _driver_with(node: Any) -> Any:
    from oceanfed.driver import Driver

    class Polled:
        def start_polled(self, deliver: Any) -> bool:
            return True

        def poll_fds(self) -> tuple[int, ...]:
            return ()

        def pump(self, ready: Any = ()) -> float:
            return 60.0

        def pump_due(self) -> float:
            return 0.0

        def close(self) -> None:
            pass

    polled = Polled()
    driver = Driver(None, node=node, signer=polled, messenger=polled, store=None)  # type: ignore[arg-type]
    driver._start_messenger()
    return driver


def test_the_driver_carries_submit_and_validate_on_the_loop_without_a_thread() -> None:
    from oceanfed.consensus import actions as A
    from oceanfed.consensus import events as E

    verdict = b'{"result": null, "error": {"code": -25, "message": "bad-txnmrklroot"}, "id": 1}'
    node = KeptNode([_ok(b"0"), _ok(b"null"), _ok(b"null"),
                     b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(verdict), verdict)])
    client = _loop_client(node)
    driver = _driver_with(client)
    handed = _record_handoffs(driver)
    try:
        driver._execute([A.Submit(3, "cd" * 32, "00")])
        assert driver._next_event(5) == E.Submitted(3, "cd" * 32, None)
        driver._execute([A.Validate(4, "ef" * 32, "00")])
        assert driver._next_event(5) == E.Validated(4, "ef" * 32, None)
        driver._execute([A.Validate(5, "ab" * 32, "00")])
        assert driver._next_event(5) == E.Validated(5, "ab" * 32, "bad-txnmrklroot")
        assert handed == []  # no thread took part
        assert driver.rpc_errors == 1 and driver.node_outage.since is None
    finally:
        driver.close()
        client.close()
        node.close()


def test_a_loop_call_that_fails_goes_on_to_a_thread_with_the_same_failure() -> None:
    from oceanfed.consensus import actions as A
    from oceanfed.consensus import events as E

    node = KeptNode([_ok(b"0"), b""])
    client = _loop_client(node, retries=0)
    driver = _driver_with(client)
    try:
        driver._execute([A.Submit(3, "cd" * 32, "00")])
        event = driver._next_event(5)
        assert isinstance(event, E.NodeFailed) and event.what == "submit"
        assert "lost connection to node" in event.message and "during submitblock" in event.message
        assert node.methods == [b"getblockcount", b"submitblock"]
        assert driver.node_outage.since is not None  # no answer: the outage's backoff begins
    finally:
        driver.close()
        client.close()
        node.close()


@pytest.mark.parametrize("idle", [True, False])
def test_a_veto_hook_keeps_validation_off_the_loop_unless_its_plugin_is_idle(idle: bool) -> None:
    """A plugin's veto hook may block: it runs on a thread, and with it the node call,
    unless the plugin says its hooks do nothing now (the inflation plugin without its
    table); then the node's answer alone is the verdict, on the loop."""
    import pluggy

    from oceanfed import hookspecs
    from oceanfed.consensus import actions as A
    from oceanfed.consensus import events as E

    class Veto:
        def __init__(self) -> None:
            self.idle = idle
            self.asked = 0

        @hookspecs.hookimpl
        def oceanfed_validate_proposal(self, height: int, block_hex: str, extras: Any) -> str | None:
            self.asked += 1
            return None

    veto = Veto()
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(veto)
    node = KeptNode([_ok(b"0"), _ok(b"null")])
    client = _loop_client(node)
    driver = _driver_with(client)
    driver.hooks = pm
    handed = _record_handoffs(driver)
    try:
        driver._execute([A.Validate(4, "ef" * 32, "00")])
        assert driver._next_event(5) == E.Validated(4, "ef" * 32, None)
        assert (len(handed), veto.asked) == ((0, 0) if idle else (1, 1))
    finally:
        driver.close()
        client.close()
        node.close()


def test_the_loops_wait_ends_at_a_loop_calls_deadline() -> None:
    """A node that never answers a submitblock the loop carries: the loop's wait ends at
    the call's deadline (not at its own, much later), and the failure reaches the machine."""
    from oceanfed.consensus import actions as A
    from oceanfed.consensus import events as E

    node = KeptNode([_ok(b"0"), None])
    client = _loop_client(node, timeout=0.5, retries=0)
    driver = _driver_with(client)
    try:
        driver._execute([A.Submit(3, "cd" * 32, "00")])
        assert driver._inflight  # carried by the loop
        event = driver._next_event(30)
        assert isinstance(event, E.NodeFailed), event
        assert "no complete answer within node.timeout = 0.5s" in event.message
        assert node.methods == [b"getblockcount", b"submitblock"]
    finally:
        driver.close()
        client.close()
        node.close()


def test_the_loop_builds_a_proposal_itself_unless_a_plugin_adds_extras() -> None:
    """``getnewblockhex`` rides the loop like the other calls; a plugin whose
    ``proposal_extras`` hook may block keeps the build (node call and hook) on a thread,
    and an answer that is not hex is a failure to build either way."""
    import pluggy

    from oceanfed import hookspecs
    from oceanfed.consensus import actions as A
    from oceanfed.consensus import events as E

    class Extras:
        @hookspecs.hookimpl
        def oceanfed_proposal_extras(self, height: int, block_hex: str) -> dict[str, Any]:
            return {"extras": {"n": height}}

    node = KeptNode([_ok(b"0"), _ok(b'"00ab"'), _ok(b'"00cd"'), _ok(b"7")])
    client = _loop_client(node)
    driver = _driver_with(client)
    handed = _record_handoffs(driver)
    try:
        driver._execute([A.BuildProposal(3, 1)])
        assert driver._next_event(5) == E.ProposalBuilt(3, 1, "00ab", {})
        assert handed == []  # no thread took part
        pm = pluggy.PluginManager(hookspecs.PROJECT)
        pm.add_hookspecs(hookspecs)
        pm.register(Extras())
        driver.hooks = pm
        driver._execute([A.BuildProposal(4, 0)])
        assert driver._next_event(5) == E.ProposalBuilt(4, 0, "00cd", {"extras": {"n": 4}})
        assert len(handed) == 1
        driver.hooks = None
        driver._execute([A.BuildProposal(5, 0)])
        event = driver._next_event(5)
        assert isinstance(event, E.NodeFailed) and event.what == "build" and event.height == 5
        assert "answered getnewblockhex with int 7" in event.message
        assert len(handed) == 1
        assert node.methods == [b"getblockcount"] + [b"getnewblockhex"] * 3
    finally:
        driver.close()
        client.close()
        node.close()


def _burn(cpu_ns: int) -> None:
    end = time.thread_time_ns() + cpu_ns
    while time.thread_time_ns() < end:
        pass


def test_the_loops_node_call_steps_are_counted_by_their_cpu() -> None:
    """A node call's steps on the loop are counted to ``rpc`` by their CPU time: the wall
    time of a send (the loop preempted for the node it woke, here a pause) is no one's."""
    from oceanfed.consensus import actions as A
    from oceanfed.consensus import events as E

    node = KeptNode([_ok(b"0"), _ok(b"null")])
    client = _loop_client(node)
    begin = client.begin
    client.begin = lambda *a: (time.sleep(0.2), begin(*a))[1]  # type: ignore[method-assign]
    driver = _driver_with(client)
    account = driver.cpu
    account.mark_loop()
    before = account.seconds()
    account.begin()
    try:
        account.timed("machine", _burn, 20_000_000)
        driver._execute([A.Submit(3, "cd" * 32, "00")])
        assert driver._next_event(5) == E.Submitted(3, "cd" * 32, None)
    finally:
        account.end()
        driver.close()
        client.close()
        node.close()
    got = {k: v - before[k] for k, v in account.seconds().items()}
    assert got["machine"] >= 0.015, got
    assert got["rpc"] < 0.01, got


def test_the_loop_keeps_watching_its_idle_connection_and_lets_go_of_a_closed_one() -> None:
    """Between two calls the loop's kept-alive connection stays in its wait; one closed
    meanwhile whose fd number came back for a new connection is watched afresh (else the
    call on it would wait for its deadline); one that turns readable while idle (the node
    closed it) leaves the wait at once instead of waking it over and over."""
    from oceanfed.consensus import actions as A
    from oceanfed.consensus import events as E

    # each answer in pieces: the loop waits on the connection for the rest
    node = KeptNode([_ok(b"0"), _ok(b"null"), _ok(b"null"), _ok(b"null")], piece=16)
    client = _loop_client(node)
    driver = _driver_with(client)
    handed = _record_handoffs(driver)
    try:
        driver._execute([A.Submit(3, "cd" * 32, "00")])
        assert driver._next_event(5) == E.Submitted(3, "cd" * 32, None)
        first = client._loop_conns[0]
        assert driver._selector.idle == {first.sock.fileno(): first.sock}
        fd = first.sock.fileno()
        client._loop_conns.pop().close()  # closed while idle: gone from the epoll set
        driver._execute([A.Submit(4, "ab" * 32, "00")])  # on a thread, which lends its own
        assert driver._next_event(5) == E.Submitted(4, "ab" * 32, None)
        new = client._loop_conns[0].sock.fileno()
        if new != fd:  # another thread took the number: as if it had come back
            driver._selector.idle[new] = driver._selector.idle.pop(fd)
        threads = len(handed)
        driver._execute([A.Submit(5, "ef" * 32, "00")])
        assert driver._next_event(5) == E.Submitted(5, "ef" * 32, None)
        assert len(handed) == threads  # carried by the loop, on the new connection
        assert node.methods == [b"getblockcount"] + [b"submitblock"] * 3

        client._loop_conns[0].sock.shutdown(socket.SHUT_RD)  # reads as the node's close
        waits = 0
        wait = driver.cpu.wait

        def counted(*args: Any) -> Any:
            nonlocal waits
            waits += 1
            return wait(*args)

        driver.cpu.wait = counted  # type: ignore[method-assign]
        assert driver._next_event(0.3) == E.Tick()
        assert waits <= 5, f"the idle connection woke the loop {waits} times"
        assert driver._selector.idle == {}
    finally:
        driver.close()
        client.close()
        node.close()
