"""``oceanfed bench``: measure the federation and print a table (or JSON with --json)."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

ALL = ("reference", "latency", "kafka", "hsm", "sustained", "signers", "failover", "flush")


def register(sub: Any) -> None:
    p = sub.add_parser("bench", help="measure round latency, throughput, signers and failover")
    p.add_argument("--json", action="store_true", help="print a JSON list of figures")
    p.add_argument("--only", action="append", choices=ALL, help="run only these groups")
    p.add_argument("--blocks", type=int, default=None, help="blocks per latency figure (default 40)")
    p.add_argument("--sizes", default="3of5,11of15", help="federation shapes for latency")
    p.add_argument("--node", choices=("devnet", "oceand"), default="devnet",
                   help="oceand: measure latency and failover on real nodes as well (built by"
                        " scripts/oceand.sh), beside the devnet's")
    p.add_argument("--quick", action="store_true",
                   help="under a minute: this machine's reference speeds, the flush floor and "
                        "3-of-5 ZMQ soft round latency with durable and tmpfs state (--blocks "
                        "defaults to 15)")
    p.set_defaults(func=run)


def _shapes(text: str) -> list[tuple[int, int]]:
    from oceanfed.errors import ConfigError

    shapes = []
    for part in text.split(","):
        try:
            m, n = (int(x) for x in part.lower().split("of"))
        except ValueError:
            raise ConfigError(f"--sizes: expected shapes like 3of5,11of15, got {part!r}") from None
        if not 1 <= m <= n <= 16:
            raise ConfigError(f"--sizes: {part}: a CHECKMULTISIG holds 1 to 16 keys here")
        shapes.append((n, m))
    return shapes


def run(args: argparse.Namespace) -> int:
    from oceanfed_devnet.bench import federation as fb
    from oceanfed_devnet.bench.figures import table
    from oceanfed_devnet.bench.flush import flush_by_block_size, flush_floor
    from oceanfed_devnet.bench.reference import reference_figures
    from oceanfed_devnet.bench.signers import pkcs11_signers, soft_signers

    groups = set(args.only or ALL)
    if args.node == "oceand":
        from oceanfed_devnet.oceand import find_bindir

        find_bindir()  # one clear line, before any measuring, when the binaries are missing
    shapes = _shapes(args.sizes)
    if args.quick:  # the figures a user checks first
        groups, shapes = {"reference", "flush", "latency"}, [(5, 3)]
    if args.blocks is None:
        args.blocks = 15 if args.quick else 40
    if args.blocks < 1:
        from oceanfed.errors import ConfigError

        raise ConfigError("--blocks must be at least 1")
    figures = []

    def emit(items: Any) -> None:
        for f in items if isinstance(items, list) else [items]:
            figures.append(f)
            if not args.json:
                print(f"  {f.name}: median {f.median:g} {f.unit}" + (f", p99 {f.p99:g}" if f.p99 is not None else "")
                      + f" (n={f.n})", flush=True)

    if "reference" in groups:  # first, on a machine nothing else of the bench is using yet
        emit(reference_figures())
    if "flush" in groups:
        emit(flush_floor(os.getcwd(), "disk"))
        if not args.quick:
            emit(flush_by_block_size(os.getcwd(), "disk"))
        if os.path.isdir("/dev/shm"):
            emit(flush_floor("/dev/shm", "tmpfs"))
            if not args.quick:
                emit(flush_by_block_size("/dev/shm", "tmpfs"))
    if "latency" in groups:
        for n, m in shapes:
            emit(fb.round_latency(n, m, blocks=args.blocks))
        if os.path.isdir("/dev/shm"):
            emit(fb.round_latency(5, 3, blocks=args.blocks, state_dir="/dev/shm", label="/tmpfs-state"))
    if "kafka" in groups:
        for n, m in shapes[:1]:
            emit(fb.round_latency(n, m, messenger="kafka", blocks=args.blocks))
    if "hsm" in groups:
        from oceanfed_devnet.bench.hsm import hsm_latency

        emit(hsm_latency(args.blocks))
    if "sustained" in groups:
        emit(fb.sustained())
    if "failover" in groups:
        emit(fb.failover())
    if args.node == "oceand":
        if "latency" in groups:
            for n, m in shapes[:1]:
                emit(fb.round_latency(n, m, blocks=args.blocks, node="oceand"))
        if "failover" in groups:
            emit(fb.failover(node="oceand"))
    if "signers" in groups:
        emit(soft_signers())
        emit(pkcs11_signers())
    if args.json:
        print(json.dumps([f.as_dict() for f in figures]))
    else:
        print()
        print(table(figures))
    return 0
