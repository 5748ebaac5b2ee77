"""Figures measured on a real local federation: round latency, throughput, failover, cost."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from oceanfed_devnet.bench.figures import Figure, figure
from oceanfed_devnet.bench.process import cpu_seconds, peak_rss_mib
from oceanfed_devnet.launcher import LocalFederation, set_table

BENCH_ROUNDS = {
    "propose_timeout": 1.0,
    "prevote_timeout": 0.5,
    "precommit_timeout": 0.5,
    "timeout_step": 0.25,
    "gossip_interval": 0.5,
    "tip_poll_interval": 0.5,
}


@contextlib.contextmanager
def federation(
    members: int, threshold: int, *, messenger: str = "zmq", signer: str = "soft",
    block_time: float = 0.2, state_dir: str | None = None, hsm: Any = None, node: str = "devnet",
) -> Iterator[LocalFederation]:
    """A started federation in a temporary directory, torn down afterwards."""
    broker = None
    with tempfile.TemporaryDirectory(prefix="oceanfed-bench-") as tmp:
        extra: dict[str, Any] = {}
        if messenger == "kafka":
            from oceanfed_kafka.broker import TansuBroker

            broker = TansuBroker()
            broker.start()
            extra["kafka_bootstrap"] = broker.bootstrap
        fed = LocalFederation(Path(tmp) / "fed", members, threshold, messenger=messenger,
                              block_time=block_time, rounds=BENCH_ROUNDS, log_level="warning",
                              node=node, **extra)
        try:
            for name in fed.members:
                if broker is not None:
                    set_table(fed.layout.fed_toml(name), "messenger",
                              {"driver": "kafka", **broker.messenger_options()})
                if state_dir is not None:
                    fed.set_state_dir(name, Path(state_dir) / f"{Path(tmp).name}-{name}")
                if hsm is not None:
                    hsm(fed, name, signer)
            fed.start()
            yield fed
        finally:
            fed.close()
            if broker is not None:
                broker.stop()
            if state_dir is not None:
                for name in fed.members:
                    shutil.rmtree(fed.state_dirs[name], ignore_errors=True)


def _proposer_latencies(fed: LocalFederation, skip_heights: int) -> list[float]:
    """Round latency of each block as its proposer saw it (proposal sent → node accepted)."""
    found: dict[int, float] = {}
    for name in fed.members:
        st = fed.status(name) or {}
        for b in st.get("recent_blocks", []):
            if b["proposer"] == name and b["height"] > skip_heights:
                found[b["height"]] = b["latency"] * 1000
    return list(found.values())


def round_latency(
    members: int, threshold: int, *, messenger: str = "zmq", signer: str = "soft",
    blocks: int = 40, state_dir: str | None = None, label: str = "", hsm: Any = None,
    node: str = "devnet",
) -> Figure:
    """Median/p99 ms from proposal to acceptance, over ``blocks`` blocks (after warm-up)."""
    on = "/oceand" if node == "oceand" else ""
    name = f"round_latency/{messenger}/{signer}/{threshold}of{members}{label}{on}"
    with federation(members, threshold, messenger=messenger, signer=signer,
                    block_time=0.25, state_dir=state_dir, hsm=hsm, node=node) as fed:
        warm = fed.wait_height(3, 60)
        latencies: list[float] = []
        deadline = time.monotonic() + 30 + blocks * 1.0
        while len(latencies) < blocks and time.monotonic() < deadline:
            time.sleep(0.5)
            latencies = _proposer_latencies(fed, warm)
    return figure(name, "ms", latencies[:blocks])


def sustained(members: int = 5, threshold: int = 3, seconds: float = 10.0) -> list[Figure]:
    """Blocks per second with block_time = 0, and CPU/memory cost per member."""
    with federation(members, threshold, block_time=0.0) as fed:
        fed.wait_height(5, 60)
        pids = {n: fed.procs[n].pid for n in fed.members}
        cpu0 = {n: cpu_seconds(p) for n, p in pids.items()}
        node_pid = fed.procs["devnet"].pid
        node_cpu0 = cpu_seconds(node_pid)
        parts0 = {n: _cpu_parts(fed, n) for n in fed.members}
        h0, t0 = fed.height(), time.monotonic()
        rates = []
        last_h, last_t = h0, t0
        while time.monotonic() - t0 < seconds:
            time.sleep(1.0)
            h, t = fed.height(), time.monotonic()
            rates.append((h - last_h) / (t - last_t))
            last_h, last_t = h, t
        blocks = max(1, last_h - h0)
        cpu = [(cpu_seconds(p) - cpu0[n]) / blocks * 1000 for n, p in pids.items()]
        node_cpu = (cpu_seconds(node_pid) - node_cpu0) / blocks * 1000
        parts: dict[str, list[float]] = {}
        for n in fed.members:
            before, after = parts0[n], _cpu_parts(fed, n)
            for component, spent in after.items():
                if component in before:
                    parts.setdefault(component, []).append((spent - before[component]) / blocks * 1000)
        rss = [peak_rss_mib(p) for p in pids.values()]
    return [
        figure(f"sustained/zmq/soft/{threshold}of{members}", "blocks/s", rates),
        figure("cpu_per_block_per_member/zmq/soft", "ms", cpu),
        *(figure(f"cpu_per_block_per_member/zmq/soft/{component}", "ms", values)
          for component, values in parts.items()),
        figure("peak_memory_per_member/zmq/soft", "MiB", rss, p99=False),
        figure("cpu_per_block/devnet", "ms", [node_cpu], p99=False,
               note="the devnet node process (one for the whole federation)"),
        figure("cpu_per_block/total", "ms", [sum(cpu) + node_cpu], p99=False,
               note="members + devnet: what two cores share"),
    ]


def _cpu_parts(fed: LocalFederation, name: str) -> dict[str, float]:
    """A member's CPU seconds so far by component (``cpu_seconds`` in its status.json)."""
    parts = (fed.status(name) or {}).get("cpu_seconds")
    return {k: float(v) for k, v in parts.items()} if isinstance(parts, dict) else {}


def failover(members: int = 5, threshold: int = 3, trials: int = 5, node: str = "devnet") -> Figure:
    """Seconds from killing the next proposer to the next accepted block."""
    times = []
    with federation(members, threshold, block_time=0.5, node=node) as fed:
        fed.wait_height(3, 60)
        for _ in range(trials):
            h = fed.height()
            while fed.height() == h:  # right after a block: its successor's proposer is known
                time.sleep(0.005)
            h = fed.height()
            victim = fed.members[(h + 1) % members]
            t = time.monotonic()
            fed.kill(victim)
            while fed.height() == h and time.monotonic() - t < 30:
                time.sleep(0.005)
            times.append(time.monotonic() - t)
            fed.start_member(victim)
            fed.wait_height(fed.height() + 2, 30)
    timeout = BENCH_ROUNDS["propose_timeout"]
    on = "/oceand" if node == "oceand" else ""
    return figure(f"failover/zmq/soft/3of5{on}", "s", times,
                  note=f"round-0 propose timeout {timeout:g}s + block time 0.5s")
