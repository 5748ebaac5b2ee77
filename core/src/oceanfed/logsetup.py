"""Logging: human-readable lines by default, JSON lines with ``--log-format json``.

A JSON line carries ``ts``, ``level``, ``logger`` and ``msg``, the traceback as
``exc_info`` when there is one, and every structured field a log site passed with
``extra=`` (``height``, ``round``, ``proposer``, ``peer``, ``block``…) as a key of its own,
plus the member's ``member`` and ``chain`` once :func:`set_log_context` was called, so Loki
or ELK can query them without regular expressions.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

#: attributes every LogRecord has; anything else on a record came from ``extra=``
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key not in out:
                out[key] = value if isinstance(value, str | int | float | bool | None) else str(value)
        if record.exc_info and record.exc_info[0] is not None:
            out["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(out)


class _ContextFilter(logging.Filter):
    """Adds the member's fixed fields (``member``, ``chain``) to every record."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, Any] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in self.fields.items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


_context = _ContextFilter()


def set_log_context(**fields: Any) -> None:
    """Fields every later log record carries (in JSON lines), e.g. ``member`` and ``chain``."""
    _context.fields.update(fields)


def setup_logging(level: str = "info", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(_context)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("kafka").setLevel(logging.WARNING)
