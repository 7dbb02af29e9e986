"""How the processes log: plain text by default, one JSON object per line with
``MAESTRO_LOG_FORMAT=json`` (for Loki, Elasticsearch, Cloud Logging…).

A JSON line has ``ts`` (UTC, ISO 8601), ``level``, ``logger`` and ``message``, the ids the
call site passed as ``extra`` (``run_id``, ``step_id``, ``attempt_id``, ``alert_id``,
``workflow_id``…) and ``exc`` with the traceback when there is one. ``MAESTRO_LOG_LEVEL``
sets the level (default WARNING). Read from the environment, not the settings: logging is set
up before anything else, and a bad setting must still be reported through it.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from typing import Any

#: attributes every LogRecord has: anything else on a record came from ``extra``
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}
TEXT_FORMAT = "%(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def json_logs() -> bool:
    return os.environ.get("MAESTRO_LOG_FORMAT", "text").strip().lower() == "json"


def configure_logging() -> None:
    """Set up the root logger once, as ``MAESTRO_LOG_FORMAT``/``MAESTRO_LOG_LEVEL`` say."""
    level = os.environ.get("MAESTRO_LOG_LEVEL", "WARNING").strip().upper() or "WARNING"
    if level not in logging.getLevelNamesMapping():
        level = "WARNING"
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if json_logs() else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
