"""OpenTelemetry traces of runs, steps and attempts (docs/observability.md, "Traces").

Off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) or
``MAESTRO_OTEL=1`` is set; ``MAESTRO_OTEL=0`` or ``OTEL_SDK_DISABLED=true`` turn them off
whatever else is set. This package imports no OpenTelemetry module: the SDK is loaded by name
(``maestro.traces.otel``) the first time an engine asks for the process's sink with traces on,
so a process without traces never imports it, and a unit of work pays one ``is None`` test.

The engine derives spans from the status changes of each unit of work it commits
(``maestro.engine.tracing``) and hands them to the sink (``SpanSink.export``) after commit.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from typing import Protocol, cast

from maestro.traces.spans import SpanRecord

logger = logging.getLogger(__name__)

SWITCH = "MAESTRO_OTEL"
_ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_ON = frozenset({"1", "true", "on", "yes"})
_OFF = frozenset({"0", "false", "off", "no"})
_SDK = "maestro.traces.otel"


class SpanSink(Protocol):
    """Where ended spans go (``maestro.traces.otel.OtelSink``: the SDK's span processors)."""

    def export(self, spans: Sequence[SpanRecord]) -> None:
        """Hand ended spans on; never raises, never blocks on the network."""

    def sampled(self, trace_id: int) -> bool:
        """Whether spans of this trace are recorded (the same answer in every process)."""


def enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether traces are on in this environment."""
    env = os.environ if environ is None else environ
    switch = env.get(SWITCH, "").strip().lower()
    if switch in _OFF or env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return switch in _ON or any(env.get(name, "").strip() for name in _ENDPOINTS)


_lock = threading.Lock()
_loaded: list[SpanSink | None] = []


def sink() -> SpanSink | None:
    """The process's sink when traces are on (made once, exporting as the ``OTEL_*``
    variables say), else None. On without the ``observability`` extra installed: a warning,
    and None."""
    if not enabled():
        return None
    with _lock:
        if not _loaded:
            _loaded.append(_load())
        return _loaded[0]


def flush(timeout_millis: int = 5000) -> None:
    """Export what the process's sink still holds (a process about to end without running
    its exit handlers: a prefork worker's child). Nothing when no sink was made."""
    with _lock:
        made = _loaded[0] if _loaded else None
    flusher = getattr(made, "flush", None)
    if flusher is not None:
        flusher(timeout_millis)


def _load() -> SpanSink | None:
    try:
        module = importlib.import_module(_SDK)
    except ImportError as exc:
        logger.warning(
            "traces are on (%s or %s) but OpenTelemetry is not installed (%s): install "
            "'maestro-py[observability]'; running without traces",
            SWITCH,
            _ENDPOINTS[0],
            exc.name,
        )
        return None
    return cast(SpanSink, module.from_environment())
