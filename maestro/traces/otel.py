"""The OpenTelemetry SDK side of traces: span records become the SDK's ``ReadableSpan`` and go
to its span processors, which batch them to an exporter (OTLP/HTTP unless told otherwise).

Loaded by name (``maestro.traces.sink``) only when traces are on. No span here is started
and ended in memory: a record already has its ids, parent and times (``maestro.traces.spans``),
so the spans of one run made by several processes fit together without shared state.

The standard ``OTEL_*`` variables apply: ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``…_TRACES_…``),
``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_SERVICE_NAME`` (default ``maestro``),
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER`` (a ratio sampler decides on the trace id,
so every process keeps or drops the same runs), ``OTEL_BSP_*`` (batching) and
``OTEL_TRACES_EXPORTER`` (``otlp``, ``console`` or ``none``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.sampling import Decision, Sampler
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from maestro import __version__
from maestro.traces.spans import Outcome, SpanRecord

logger = logging.getLogger(__name__)

SERVICE = "maestro"
SCOPE = InstrumentationScope("maestro", __version__)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_STATUS = {
    Outcome.unset: StatusCode.UNSET,
    Outcome.ok: StatusCode.OK,
    Outcome.error: StatusCode.ERROR,
}


class OtelSink:
    """Hands span records to a span processor. ``provider`` is the tracer provider of the
    process's other spans (the API's requests): same resource, sampler and processor."""

    def __init__(
        self,
        processor: SpanProcessor,
        *,
        resource: Resource | None = None,
        sampler: Sampler | None = None,
    ) -> None:
        self.provider = TracerProvider(resource=resource or default_resource(), sampler=sampler)
        self.provider.add_span_processor(processor)  # the provider flushes it at exit
        self.processor = processor

    def sampled(self, trace_id: int) -> bool:
        # an empty context: the run is the root of its trace, whatever span is current here
        result = self.provider.sampler.should_sample(Context(), trace_id, "run")
        return result.decision is Decision.RECORD_AND_SAMPLE

    def export(self, spans: Sequence[SpanRecord]) -> None:
        try:
            for record in spans:
                if self.sampled(record.trace_id):
                    self.processor.on_end(readable(record, self.provider.resource))
        except Exception:  # a trace is never worth a failed step
            logger.exception("could not export spans")

    def flush(self, timeout_millis: int = 5000) -> None:
        self.provider.force_flush(timeout_millis)

    def shutdown(self) -> None:
        self.provider.shutdown()


def from_environment() -> OtelSink:
    """The sink the ``OTEL_*`` variables describe, batching to its exporter."""
    name = os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() or "otlp"
    exporter: SpanExporter
    if name == "console":
        return OtelSink(SimpleSpanProcessor(ConsoleSpanExporter()))
    if name == "none":
        exporter = _Discard()
    else:
        if name != "otlp":
            logger.warning("OTEL_TRACES_EXPORTER=%s is not supported here; using otlp", name)
        exporter = OTLPSpanExporter()
    return OtelSink(BatchSpanProcessor(exporter))


def default_resource() -> Resource:
    """The process: ``service.name`` ``maestro`` unless ``OTEL_SERVICE_NAME`` or
    ``OTEL_RESOURCE_ATTRIBUTES`` name one, and Maestro's version."""
    resource = Resource.create({SERVICE_VERSION: __version__})
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: SERVICE}))
    return resource


def readable(record: SpanRecord, resource: Resource) -> ReadableSpan:
    """The SDK's ended span for ``record``."""
    context = SpanContext(record.trace_id, record.span_id, is_remote=False, trace_flags=_SAMPLED)
    parent = (
        SpanContext(record.trace_id, record.parent_id, is_remote=False, trace_flags=_SAMPLED)
        if record.parent_id is not None
        else None
    )
    return ReadableSpan(
        name=record.name,
        context=context,
        parent=parent,
        resource=resource,
        attributes=dict(record.attributes),
        kind=SpanKind.INTERNAL,
        status=Status(
            _STATUS[record.outcome],
            record.description if record.outcome is Outcome.error else None,
        ),
        start_time=_nanos(record.start),
        end_time=_nanos(record.end),
        instrumentation_scope=SCOPE,
    )


def _nanos(value: datetime) -> int:
    """Nanoseconds since the epoch, exactly (no float on the way)."""
    return (value - _EPOCH) // timedelta(microseconds=1) * 1000


class _Discard(SpanExporter):
    """``OTEL_TRACES_EXPORTER=none``: ids still reach the steps, nothing is sent."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS
