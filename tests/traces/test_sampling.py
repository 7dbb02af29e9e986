"""A sampler decides on the trace id alone, so every process keeps or drops the same runs,
and a step's TRACEPARENT says whether its run's trace is kept."""

from __future__ import annotations

from datetime import UTC, datetime

from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from maestro.traces.otel import OtelSink
from maestro.traces.spans import SpanKind, SpanRecord, span_id, trace_id, traceparent

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _sink(exporter: InMemorySpanExporter) -> OtelSink:
    return OtelSink(SimpleSpanProcessor(exporter), sampler=ParentBased(TraceIdRatioBased(0.5)))


def test_ids_are_derived_from_the_rows_and_differ_between_stores() -> None:
    trace = trace_id(7, T0)
    assert trace == trace_id(7, T0)  # any process, any time
    assert trace != trace_id(7, T0.replace(microsecond=1))  # another store's run 7
    assert trace != trace_id(8, T0)
    ids = {span_id(trace, kind, 1) for kind in SpanKind}
    assert len(ids) == len(SpanKind) and all(0 < i < 2**64 for i in ids)
    assert span_id(trace, SpanKind.step, 1) != span_id(trace_id(8, T0), SpanKind.step, 1)
    assert traceparent(0xAB, 0xCD) == f"00-{0xAB:032x}-{0xCD:016x}-01"
    assert traceparent(0xAB, 0xCD, sampled=False).endswith("-00")


def test_two_processes_keep_and_drop_the_same_runs() -> None:
    first, second = InMemorySpanExporter(), InMemorySpanExporter()
    scheduler, worker = _sink(first), _sink(second)
    traces = [trace_id(run, T0) for run in range(1, 201)]
    kept = [t for t in traces if scheduler.sampled(t)]
    assert kept == [t for t in traces if worker.sampled(t)]
    assert 60 < len(kept) < 140  # about half
    for sink in (scheduler, worker):
        sink.export(
            [SpanRecord("run x", t, span_id(t, SpanKind.run, 1), None, T0, T0, {}) for t in traces]
        )
    assert sorted(s.context.trace_id for s in first.get_finished_spans()) == sorted(kept)
    assert sorted(s.context.trace_id for s in second.get_finished_spans()) == sorted(kept)
