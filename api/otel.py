"""API requests as spans (OpenTelemetry's FastAPI instrumentation), when traces are on.

``api.app`` loads this module by name only when its engine has a span sink, so an API without
traces never imports the instrumentation. Requests go to the sink's tracer provider: the same
resource, sampler and exporter as the spans of runs. A request's span is a trace of its own
(the run it starts has its own trace, which begins at the run's creation).
"""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

from maestro.traces import SpanSink
from maestro.traces.otel import OtelSink

#: probes, scrapes and the web view's static files: not worth a trace each (regexes)
EXCLUDED_URLS = "/healthz$,/readyz$,/metrics$,/static/"


def instrument(app: FastAPI, sink: SpanSink) -> None:
    """Trace ``app``'s requests with ``sink``'s provider (a sink without one: nothing)."""
    if isinstance(sink, OtelSink):
        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=sink.provider,
            excluded_urls=EXCLUDED_URLS,
            exclude_spans=["receive", "send"],  # one span per request, not one per ASGI message
        )
