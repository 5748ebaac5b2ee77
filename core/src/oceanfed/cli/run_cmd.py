"""``oceanfed run --config fed.toml``: run one federation member until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import Any

from oceanfed.cli.common import add_config_argument, config_path
from oceanfed.config import load_config
from oceanfed.errors import FatalError
from oceanfed.logsetup import set_log_context, setup_logging
from oceanfed.sdnotify import Notifier


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="run a federation member")
    add_config_argument(p)
    # also accepted after the sub-command; SUPPRESS keeps a value given before it
    p.add_argument("--log-format", choices=("text", "json"), default=argparse.SUPPRESS)
    p.add_argument(
        "--log-level", choices=("debug", "info", "warning", "error"), default=argparse.SUPPRESS
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from oceanfed.cli.status_cmd import live_status
    from oceanfed.member import build_driver

    cfg = load_config(config_path(args))
    setup_logging(
        getattr(args, "log_level", None) or cfg.log.level,
        getattr(args, "log_format", None) or cfg.log.format,
    )
    set_log_context(member=cfg.member.name, chain=cfg.federation.chain)
    metrics = None
    if cfg.metrics.listen:
        from oceanfed.metrics import MetricsServer

        # served from the start: /health says "starting" while the node warms up
        metrics = MetricsServer(cfg.metrics.listen, cfg.metrics.unhealthy_after)
        metrics.start()
        try:
            driver = build_driver(cfg, on_block=metrics.observe_block)
        except BaseException:
            metrics.stop()
            raise
        metrics.attach(driver, chain=cfg.federation.chain)
        metrics.status_source = lambda: live_status(cfg, driver.status())
    else:
        driver = build_driver(cfg)
    # The loop thread hands work to RPC, signer and messenger threads and back; the default
    # 5 ms GIL switch interval would add up to that much to every hand-off on a busy box.
    sys.setswitchinterval(0.0005)
    log = logging.getLogger("oceanfed")

    def _stop(signum: int, _frame: Any) -> None:
        log.info("received %s: stopping", signal.Signals(signum).name)
        driver.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log.info(
        "member %s of %d-of-%d federation on chain %s: started",
        cfg.member.name, cfg.federation.threshold, len(cfg.federation.members), cfg.federation.chain,
    )
    # systemd (Type=notify): ready once the state is held and the node checked; the loop
    # pings the watchdog
    notifier = Notifier()
    notifier.ready(f"member {cfg.member.name} signing on {cfg.federation.chain}")
    if notifier.watchdog_interval is not None:
        driver.heartbeat = notifier.watchdog
    try:
        driver.run()
    finally:
        notifier.stopping()
        notifier.close()
        if metrics is not None:
            metrics.stop()
        driver.store.close()  # every save was already flushed; this releases the lock
    if driver.fatal:
        raise FatalError(driver.fatal)
    log.info("stopped cleanly")
    return 0
