"""A real Prometheus server (Debian's ``prometheus``) for tests: its own config and data
directory, a free loopback port, output to files, and the HTTP query API.

    with PrometheusServer(tmp_path / "prom", ["127.0.0.1:9464"]) as prom:
        prom.query("up")       # the result list; AssertionError if the query does not parse
"""

from __future__ import annotations

import json
import shutil
import signal
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from testsupport.processes import Spawned
from testsupport.waiting import free_port

PROMETHEUS = shutil.which("prometheus")


class PrometheusServer:
    """Prometheus scraping ``targets`` (``host:port`` serving /metrics) every ``interval``."""

    def __init__(self, directory: Path, targets: list[str], interval: str = "1s"):
        self.dir = directory
        self.targets = targets
        self.interval = interval
        self.port = free_port()
        self.proc: Spawned | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> PrometheusServer:
        assert PROMETHEUS is not None, "prometheus is not installed"
        self.dir.mkdir(parents=True, exist_ok=True)
        config = self.dir / "prometheus.yml"
        config.write_text(json.dumps({  # JSON is YAML
            "global": {"scrape_interval": self.interval, "evaluation_interval": self.interval},
            "scrape_configs": [{"job_name": "oceanfed",
                                "static_configs": [{"targets": self.targets}]}],
        }, indent=2))
        self.proc = Spawned([
            PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={self.dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn",
        ], self.dir, "prometheus")  # fmt: skip
        deadline = time.monotonic() + timeout
        while not self._ready():
            if self.proc.proc.poll() is not None or time.monotonic() > deadline:
                err = self.proc.stderr()[-2000:]
                self.stop()
                raise AssertionError(f"prometheus did not become ready: {err}")
            time.sleep(0.1)
        return self

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as resp:
                return bool(resp.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def api(self, path: str, **params: str) -> Any:
        """GET ``/api/v1/PATH``; the ``data`` of a success, else AssertionError with the error."""
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                body = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            body = json.loads(exc.read() or b"{}")
        assert body.get("status") == "success", f"{params}: {body.get('errorType')}: {body.get('error')}"
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result (a vector or a scalar as a one-element list)."""
        data = self.api("query", query=expr)
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        return list(data["result"])

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(signal.SIGTERM, timeout=20)
            self.proc = None

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
