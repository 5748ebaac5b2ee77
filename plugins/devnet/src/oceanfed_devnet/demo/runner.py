"""Orchestrates the demo: devnet, members, optional broker, chaos, and the live view."""

from __future__ import annotations

import contextlib
import random
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oceanfed.errors import OceanfedError, RPCError
from oceanfed.ocean.block import Block
from oceanfed_devnet.demo.clients import DemoClients
from oceanfed_devnet.demo.inflation import DemoInflation, inflation_available
from oceanfed_devnet.demo.stats import BlockRecord, DemoStats
from oceanfed_devnet.demo.view import PlainView
from oceanfed_devnet.hsm_members import use_softhsm
from oceanfed_devnet.launcher import LocalFederation, set_table

POLL = 0.05


@dataclass
class DemoOptions:
    members: int = 5
    threshold: int = 3
    messenger: str = "zmq"
    block_time: float = 1.0
    blocks: int | None = None
    chaos: bool = False
    chaos_every: float = 6.0
    seed: int | None = None
    clients: int = 2
    #: "pkcs11" puts the first two members on a SoftHSM2 token (python-pkcs11, PyKCS11)
    signer: str = "soft"
    #: reissue an asset every this many blocks (0: no inflation)
    inflation_period: int = 10
    dir: str | None = None
    #: the chain's nodes: "devnet" (embedded) or "oceand" (real nodes)
    node: str = "devnet"
    oceand_bindir: str | None = None


class Demo:
    """One demo run; use as a context manager so that everything is cleaned up."""

    def __init__(self, opts: DemoOptions, view: PlainView):
        self.opts = opts
        self.view = view
        self.stats = DemoStats()
        self.rng = random.Random(opts.seed)
        self._tmp = None if opts.dir else tempfile.mkdtemp(prefix="oceanfed-demo-")
        self.dir = Path(opts.dir or self._tmp)  # type: ignore[arg-type]
        self.broker: Any = None
        self.fed: LocalFederation | None = None
        self.clients: DemoClients | None = None
        self.signers: dict[str, str] = {}
        self.inflation: DemoInflation | None = None
        self.down: dict[str, float] = {}  # member -> restart time

    # ------------------------------------------------------------------ setup

    def __enter__(self) -> Demo:
        try:
            self._setup()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _setup(self) -> None:
        opts = self.opts
        extra: dict[str, Any] = {}
        if opts.messenger == "kafka":
            try:
                from oceanfed_kafka.broker import TansuBroker
            except ImportError:
                raise OceanfedError(
                    "--messenger kafka needs the Kafka plugin: pip install 'oceanfed[kafka]'"
                ) from None
            self.broker = TansuBroker()
            self.broker.start()
            self.view.event(f"started a Kafka-protocol broker on {self.broker.bootstrap}")
            extra["kafka_bootstrap"] = self.broker.bootstrap
        if opts.node == "oceand":
            extra["node"] = "oceand"
            extra["oceand_bindir"] = opts.oceand_bindir
            self.view.event(f"creating {opts.members + opts.clients} oceand nodes (one per member"
                            " and client)")
        self.fed = LocalFederation(
            self.dir / "federation", opts.members, opts.threshold,
            messenger=opts.messenger, block_time=opts.block_time, clients=opts.clients, **extra,
        )
        self.clients = DemoClients(self.fed, self.rng, self.view.event)
        if self.broker is not None:
            for name in self.fed.members:
                set_table(self.fed.layout.fed_toml(name), "messenger",
                          {"driver": "kafka", **self.broker.messenger_options()})
        if opts.signer == "pkcs11":
            hsm = list(zip(self.fed.members[:2], ("pkcs11", "pykcs11"), strict=False))
            use_softhsm(self.fed, hsm, self.dir / "softhsm")
            self.signers.update(dict(hsm))
            self.view.event("members " + ", ".join(f"{n} ({d})" for n, d in hsm)
                            + " sign on a SoftHSM2 token")
        if opts.node == "oceand" and len(self.clients.names) > 1:
            # a real node puts every free coin at one key (c0's): share them out
            self.fed.start_devnet()
            first, *others = self.clients.names
            payer = self.fed.rpc(first)
            for name in others:
                payer.call("sendtoaddress", self.fed.rpc(name).call("getnewaddress"), 1000)
            self.view.event(f"{first} sent 1000 coins to each of {', '.join(others)}")
        if opts.inflation_period and self.clients.names and inflation_available():
            self.fed.start_devnet()
            self.inflation = DemoInflation(self.fed, self.clients.names[0], self.view.event,
                                           opts.inflation_period)
            self.inflation.configure()
        self.fed.start()
        self.view.event(
            f"{'oceand nodes' if opts.node == 'oceand' else 'devnet'} and {opts.members} members started ({opts.threshold}-of-{opts.members}, "
            f"{opts.messenger}, block time {opts.block_time:g}s) in {self.dir}"
        )

    def close(self) -> None:
        if self.fed is not None:
            self.fed.close()
        if self.broker is not None:
            with contextlib.suppress(Exception):
                self.broker.stop()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    # ------------------------------------------------------------------ running

    def run(self) -> DemoStats:
        """Follow the chain until ``blocks`` blocks were made (or for ever)."""
        assert self.fed is not None
        fed = self.fed
        seen = fed.height()
        start = seen
        next_chaos = time.monotonic() + self.opts.chaos_every
        next_refresh = 0.0
        while self.opts.blocks is None or seen - start < self.opts.blocks:
            time.sleep(POLL)
            now = time.monotonic()
            if self.opts.chaos:
                next_chaos = self._chaos(now, next_chaos, seen)
            if self.clients is not None:
                self.clients.step(now)
            try:
                tip = fed.height()
            except RPCError:
                continue
            if self.inflation is not None and seen < tip:
                self.inflation.step()
            while seen < tip:
                try:
                    record = self._record(seen + 1)
                except RPCError:
                    break  # the node is busy or restarting: read this block at the next poll
                seen += 1
                self.stats.add(record)
                self.view.block(record)
            if now >= next_refresh:
                next_refresh = now + 0.25
                assets = self.clients.assets() if self.clients is not None else []
                self.view.refresh(self.member_rows(tip), assets, self.stats)
        return self.stats

    def _record(self, height: int) -> BlockRecord:
        assert self.fed is not None
        rpc = self.fed.rpc()
        block_hash = rpc.call("getblockhash", height)
        block = Block.from_hex(rpc.call("getblock", block_hash, False))
        txs = max(0, len(block.txs) - 1)
        reissued = self.inflation.reissuances(block) if self.inflation is not None else 0
        info: dict[str, Any] | None = None
        deadline = time.monotonic() + 0.5
        while info is None and time.monotonic() < deadline:
            for name in self.fed.members:
                st = self.fed.status(name) or {}
                lb = st.get("last_block") or {}
                if lb.get("hash") == block_hash:
                    info = lb
                    break
            else:
                time.sleep(0.02)
        info = info or {}
        return BlockRecord(
            height=height,
            block_hash=block_hash,
            proposer=info.get("proposer", "?"),
            round=int(info.get("round", 0)),
            signers=list(info.get("signers", [])),
            latency=float(info.get("latency", 0.0)),
            txs=txs,
            reissuances=reissued,
            catch_up=0 < float(info.get("interval", self.opts.block_time)) < self.opts.block_time,
        )

    def _chaos(self, now: float, next_chaos: float, height: int) -> float:
        assert self.fed is not None
        for name, at in list(self.down.items()):
            if now >= at:
                self.fed.start_member(name)
                del self.down[name]
                self.stats.restarts += 1
                self.view.event(f"chaos: restarted {name}; it catches up from its saved state")
        if now < next_chaos or self.down:
            return next_chaos
        # kill the member that proposes the next height, so that a failover happens
        n = len(self.fed.members)
        victim = self.fed.members[(height + 1) % n]
        self.fed.kill(victim)
        self.stats.kills += 1
        self.down[victim] = now + self.rng.uniform(2.0, 4.0)
        self.view.event(f"chaos: killed {victim} (next proposer) with SIGKILL")
        return now + self.opts.chaos_every

    def member_rows(self, tip: int) -> list[dict[str, Any]]:
        assert self.fed is not None
        rows = []
        for name in self.fed.members:
            st = self.fed.status(name) or {}
            running = self.fed.running(name)
            height = st.get("height")
            status = "down" if not running else "up"
            if running and height is not None and height < tip:
                status = "behind"
            rows.append({
                "name": name, "status": status, "height": height, "round": st.get("round"),
                "messenger": self.opts.messenger, "signer": self.signers.get(name, "soft"),
            })
        return rows
