"""``oceanfed demo``: run a local federation on the embedded devnet and watch it."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from typing import Any

from oceanfed.errors import ConfigError


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="run a local federation on the embedded devnet")
    p.add_argument("--members", type=int, default=5, help="federation size N (default 5)")
    p.add_argument("--threshold", type=int, default=3, help="signatures per block M (default 3)")
    p.add_argument("--messenger", choices=("zmq", "kafka"), default="zmq")
    p.add_argument("--block-time", type=float, default=1.0, help="seconds per block (default 1)")
    p.add_argument("--blocks", type=int, default=None, metavar="K",
                   help="stop after K blocks and print a summary")
    p.add_argument("--chaos", action="store_true", help="kill and restart members now and then")
    p.add_argument("--signer", choices=("soft", "pkcs11"), default="soft",
                   help="pkcs11: two members sign on a SoftHSM2 token (needs softhsm2)")
    p.add_argument("--clients", type=int, default=2, help="wallets issuing and paying (default 2)")
    p.add_argument("--inflation-period", type=int, default=10, metavar="BLOCKS",
                   help="reissue the demo asset every BLOCKS blocks (0: off; default 10)")
    p.add_argument("--seed", type=int, default=None, help="seed for --chaos")
    p.add_argument("--dir", default=None, help="keep the federation in this directory")
    p.add_argument("--plain", action="store_true", help="plain lines even on a terminal")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--node", choices=("devnet", "oceand"), default="devnet",
                   help="the chain's nodes: the embedded devnet (default) or real oceand"
                        " (built by scripts/oceand.sh)")
    p.add_argument("--oceand-bindir", default=None, help="folder with oceand (with --node oceand)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from oceanfed_devnet.demo.runner import Demo, DemoOptions
    from oceanfed_devnet.demo.view import PlainView, RichView, rich_missing

    if args.threshold < 1 or args.members < 1 or args.threshold > args.members:
        raise ConfigError(f"--threshold {args.threshold} must be between 1 and --members {args.members}")
    if 2 * args.threshold <= args.members:
        raise ConfigError(
            f"--threshold {args.threshold} of {args.members} is not a majority; use at least "
            f"{args.members // 2 + 1}"
        )
    if args.inflation_period < 0:
        raise ConfigError("--inflation-period must be 0 (off) or a number of blocks")
    if not 0 <= args.clients <= 16:
        raise ConfigError("--clients must be between 0 and 16")
    if args.blocks is not None and args.blocks < 1:
        raise ConfigError("--blocks must be at least 1")
    opts = DemoOptions(
        members=args.members, threshold=args.threshold, messenger=args.messenger,
        block_time=args.block_time, blocks=args.blocks, chaos=args.chaos, seed=args.seed,
        dir=args.dir, signer=args.signer, clients=args.clients,
        inflation_period=args.inflation_period, node=args.node, oceand_bindir=args.oceand_bindir,
    )
    title = f"oceanfed demo {args.threshold}-of-{args.members} over {args.messenger}"
    if args.node == "oceand":
        from oceanfed_devnet.oceand import find_bindir

        find_bindir(args.oceand_bindir)  # one clear line when the binaries are missing
        title += " on oceand"
    live = not args.plain and sys.stdout.isatty()
    if live and rich_missing():
        print("demo: plain lines, the live table needs rich (pip install rich)",
              file=sys.stderr)
        live = False
    view = RichView(title) if live else PlainView()
    interrupted = False

    def _stop(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt  # unwinds through Demo's cleanup: processes, tokens, files

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _stop)
    with Demo(opts, view) as demo, view:
        try:
            demo.run()
        except KeyboardInterrupt:
            interrupted = True
    summary = demo.stats.summary()
    if args.json:
        print(json.dumps(summary))
    else:
        print("summary: " + ", ".join(f"{k} {v}" for k, v in summary.items()))
    return 130 if interrupted else 0
