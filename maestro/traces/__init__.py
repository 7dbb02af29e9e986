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

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Protocol

from maestro.lazy_sink import LazySink, switch
from maestro.traces.spans import SpanRecord

logger = logging.getLogger(__name__)

SWITCH = "MAESTRO_OTEL"
_ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


class SpanSink(Protocol):
    """Where ended spans go (``maestro.traces.otel.OtelSink``: the SDK's span processors)."""

    def export(self, spans: Sequence[SpanRecord]) -> None:
        """Hand ended spans on; never raises, never blocks on the network."""

    def sampled(self, trace_id: int) -> bool:
        """Whether spans of this trace are recorded (the same answer in every process)."""


def enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether traces are on in this environment."""
    env = os.environ if environ is None else environ
    on = switch(env, SWITCH)
    if on is False or env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return on is True or any(env.get(name, "").strip() for name in _ENDPOINTS)


#: the OpenTelemetry SDK side (``maestro.traces.otel``), loaded by name when traces are on
_sink: LazySink[SpanSink] = LazySink(
    "maestro.traces.otel",
    logger,
    f"traces are on ({SWITCH} or {_ENDPOINTS[0]}) but OpenTelemetry is not installed (%s): "
    "install 'maestro-py[observability]'; running without traces",
)


def sink() -> SpanSink | None:
    """The process's sink when traces are on (made once, exporting as the ``OTEL_*``
    variables say), else None. On without the ``observability`` extra installed: a warning,
    and None."""
    return _sink.get() if enabled() else None


def flush(timeout_millis: int = 5000) -> None:
    """Export what the process's sink still holds (a process about to end without running
    its exit handlers: a prefork worker's child). Nothing when no sink was made."""
    flusher = getattr(_sink.made(), "flush", None)
    if flusher is not None:
        flusher(timeout_millis)
