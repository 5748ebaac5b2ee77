"""``oceanfed devnet``: create a local devnet, or serve one in the foreground.

oceanfed devnet --members 5 --threshold 3 --dir DIR [--block-time S] [--base-port P]
                [--node oceand [--oceand-bindir DIR]]
oceanfed devnet serve --dir DIR        (or just: oceanfed devnet --dir DIR)
"""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any

HELP = """\
Create a devnet: a local signed chain with one JSON-RPC endpoint per member, and a
fed.toml per member (DIR/<name>/fed.toml).

  oceanfed devnet --members 5 --threshold 3 --dir DIR   create DIR (then exit)
  oceanfed devnet serve --dir DIR                        serve DIR until SIGINT/SIGTERM
  oceanfed devnet --dir DIR                              same as 'serve'

With --node oceand the chain runs on real oceand nodes, one per member and client
(build them with scripts/oceand.sh); the fed.toml files are the same.

When serving, one line 'devnet ready: …' is printed once every endpoint listens.
"""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "devnet",
        help="create or serve a local devnet chain",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "action",
        nargs="?",
        choices=("create", "serve"),
        help="default: create when --members is given, else serve",
    )
    p.add_argument("--dir", required=True, help="devnet directory")
    p.add_argument("--members", type=int, help="number of members (creates the devnet)")
    p.add_argument(
        "--threshold", type=int, help="signatures needed per block (default: a majority)"
    )
    p.add_argument(
        "--block-time", type=float, default=1.0, help="target seconds per block (default 1)"
    )
    p.add_argument("--base-port", type=int, help="first port to use (default: free ports)")
    p.add_argument(
        "--messenger",
        choices=("zmq", "kafka"),
        default="zmq",
        help="messenger in the generated fed.toml",
    )
    p.add_argument("--chain", default="ocean_test", help="chain name (default ocean_test)")
    p.add_argument(
        "--clients",
        type=int,
        default=0,
        help="non-member endpoints c0… with their own wallets, sharing the initial free coins",
    )
    p.add_argument(
        "--no-curve",
        dest="curve",
        action="store_false",
        help="zmq: leave messages unencrypted (default: CURVE keys are generated and used)",
    )
    p.add_argument(
        "--node",
        choices=("devnet", "oceand"),
        default="devnet",
        help="the chain's nodes: the embedded devnet (default) or real oceand processes",
    )
    p.add_argument(
        "--oceand-bindir",
        help="folder with oceand (default: $OCEANFED_OCEAND_BINDIR, scripts/oceand.sh's cache, $PATH)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from oceanfed.errors import ConfigError

    action = args.action or ("create" if args.members is not None else "serve")
    if action == "create":
        if args.members is None:
            raise ConfigError("devnet create: --members is required")
        return _create(args)
    if args.members is not None or args.threshold is not None:
        raise ConfigError("devnet serve: --members/--threshold only apply when creating a devnet")
    return _serve(args.dir, args.oceand_bindir)


def _create(args: argparse.Namespace) -> int:
    from oceanfed_devnet.setup import create_devnet

    threshold = args.threshold if args.threshold is not None else args.members // 2 + 1
    options: dict[str, Any] = {
        "base_port": args.base_port,
        "block_time": args.block_time,
        "messenger": args.messenger,
        "chain": args.chain,
        "clients": args.clients,
        "curve": args.curve,
    }
    if args.node == "oceand":
        from oceanfed_devnet.oceand import create_oceand_devnet

        layout = create_oceand_devnet(
            args.dir, args.members, threshold, oceand_bindir=args.oceand_bindir, **options
        )
    else:
        layout = create_devnet(args.dir, args.members, threshold, **options)
    if layout.clients:
        print("clients: " + ", ".join(f"{c} on port {layout.port(c)}" for c in layout.clients))
    print(
        f"devnet created in {layout.dir}: {threshold}-of-{len(layout.members)} "
        f"({', '.join(layout.members)}), genesis {layout.genesis_hash}, "
        f"rpc ports {', '.join(map(str, layout.rpc_ports))}"
    )
    print(f"serve it with: oceanfed devnet serve --dir {layout.dir}")
    return 0


def _serve(directory: str, bindir: str | None = None) -> int:
    from oceanfed_devnet.setup import load_layout, start_devnet

    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    layout = load_layout(directory)
    if layout.node == "oceand":
        return _serve_oceand(directory, bindir, stop, on_signal)
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        layout, server = start_devnet(directory)
    except BaseException:
        for s, h in previous.items():
            signal.signal(s, h)
        raise
    chain = server.chain
    ports = ", ".join(f"{n}={p}" for n, p in zip(layout.members, layout.rpc_ports, strict=True))
    print(
        f"devnet ready: chain {layout.chain} height {chain.height} tip {chain.tip().header.hash_hex()} "
        f"rpc 127.0.0.1 {ports}",
        flush=True,
    )
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        for s, h in previous.items():
            signal.signal(s, h)
    return 0


def _serve_oceand(directory: str, bindir: str | None, stop: threading.Event, on_signal: Any) -> int:
    from oceanfed_devnet.oceand import OceandNet, serve
    from oceanfed_devnet.setup import load_layout

    layout = load_layout(directory)

    def ready(net: OceandNet) -> None:
        first = net.client(layout.members[0])
        height = first.call("getblockcount")
        tip = first.call("getbestblockhash")
        ports = ", ".join(f"{n}={layout.port(n)}" for n in layout.endpoints)
        print(
            f"devnet ready: chain {layout.chain} height {height} tip {tip} rpc 127.0.0.1 {ports}"
            f" (oceand in {net.bindir})",
            flush=True,
        )

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        serve(layout, stop, bindir, ready)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    return 0
