"""A harness whose engine sends its spans to the SDK's in-memory exporter or, through the
OTLP/HTTP exporter, to a real receiver on loopback (``traced``, parametrized over both)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from maestro.clock import FakeClock
from maestro.traces.otel import OtelSink
from tests.engine.harness import Harness
from tests.support.otlp import OtlpReceiver, Span, Tree, from_sdk


class TickingClock(FakeClock):
    """Each reading is a millisecond later: every unit of work has its own instant, so the
    tests can tell the order of what happened from the spans' times alone."""

    def now(self) -> datetime:
        self.advance(0.001)
        return super().now()


@dataclass
class Traced:
    harness: Harness
    sink: OtelSink
    collect: Callable[[], list[Span]]

    def tree(self) -> Tree:
        return Tree(self.collect())


@pytest.fixture
def harness(db_url: str, tmp_path: Path) -> Iterator[Harness]:
    """An engine as a process without OTEL_* variables makes it: no traces."""
    h = Harness(db_url, tmp_path, heartbeat_interval=0.2, kill_grace=0.5)
    yield h
    h.close()


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    r = OtlpReceiver().start()
    yield r
    r.stop()


@pytest.fixture(params=["memory", "otlp"])
def traced(request: pytest.FixtureRequest, db_url: str, tmp_path: Path) -> Iterator[Traced]:
    h = Harness(db_url, tmp_path, heartbeat_interval=0.2, kill_grace=0.5)
    h.clock = h.engine.clock = TickingClock()
    if request.param == "memory":
        exporter = InMemorySpanExporter()
        sink = OtelSink(SimpleSpanProcessor(exporter))

        def collect() -> list[Span]:
            return from_sdk(exporter.get_finished_spans())

    else:
        receiver: OtlpReceiver = request.getfixturevalue("receiver")
        sink = OtelSink(BatchSpanProcessor(OTLPSpanExporter(f"{receiver.endpoint}/v1/traces")))

        def collect() -> list[Span]:
            sink.flush()
            return receiver.received()

    h.engine.spans = sink
    yield Traced(h, sink, collect)
    sink.shutdown()
    h.close()


def ns(delta: timedelta) -> int:
    return delta // timedelta(microseconds=1) * 1000
