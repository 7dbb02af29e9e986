"""How the processes log: plain text by default, one JSON object per line with
``MAESTRO_LOG_FORMAT=json`` (for Loki, Elasticsearch, Cloud Logging…).

A JSON line has ``ts`` (UTC, ISO 8601), ``level``, ``logger`` and ``message``, the ids the
call site passed as ``extra`` (``run_id``, ``step_id``, ``attempt_id``, ``alert_id``,
``workflow_id``…) and ``exc`` with the traceback when there is one. When traces are on,
``trace_id`` and ``span_id`` join a line logged while a worker runs an attempt (the attempt's
span, ``trace_context``) or while the API answers a traced request (the request's span), so
a log line leads to its trace. ``MAESTRO_LOG_LEVEL``
sets the level (default WARNING). Read from the environment, not the settings: logging is set
up before anything else, and a bad setting must still be reported through it.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

#: attributes every LogRecord has: anything else on a record came from ``extra``
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}
TEXT_FORMAT = "%(levelname)s %(name)s: %(message)s"


#: (trace id, span id) of the attempt this thread runs, from its TRACEPARENT
_TRACE: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar(
    "maestro_trace", default=None
)


@contextmanager
def trace_context(traceparent: str | None) -> Iterator[None]:
    """Log with the ids of ``traceparent`` (``00-TRACE-SPAN-FLAGS``) inside the block."""
    parts = (traceparent or "").split("-")
    ids = (parts[1], parts[2]) if len(parts) == 4 and len(parts[1]) == 32 else None
    token = _TRACE.set(ids)
    try:
        yield
    finally:
        _TRACE.reset(token)


def _trace_ids() -> tuple[str, str] | None:
    """The attempt's ids, else those of the current OpenTelemetry span when the SDK is loaded
    (traces on: a traced API request). Never imports OpenTelemetry."""
    ids = _TRACE.get()
    if ids is not None:
        return ids
    otel = sys.modules.get("opentelemetry.trace")
    if otel is None:
        return None
    context = otel.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        ids = _trace_ids()
        if ids is not None:
            line["trace_id"], line["span_id"] = ids
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
