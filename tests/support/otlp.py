"""Spans as the tests read them, from the SDK's in-memory exporter or from a real OTLP/HTTP
receiver on loopback (a small HTTP server that decodes the protobuf with opentelemetry-proto's
own classes, as a collector would)."""

from __future__ import annotations

import gzip
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace import ReadableSpan

from tests.support.cluster import free_port

_PROTO_STATUS = {0: "UNSET", 1: "OK", 2: "ERROR"}


@dataclass(frozen=True)
class Span:
    """One span, whichever way it came."""

    name: str
    trace_id: int
    span_id: int
    parent_id: int | None
    start: int  # ns since the epoch
    end: int
    attributes: dict[str, Any]
    status: str  # UNSET, OK, ERROR
    description: str | None
    resource: dict[str, Any] = field(default_factory=dict)
    kind: str = "INTERNAL"


def from_sdk(spans: tuple[ReadableSpan, ...] | list[ReadableSpan]) -> list[Span]:
    found = []
    for s in spans:
        assert s.context is not None and s.start_time is not None and s.end_time is not None
        found.append(
            Span(
                name=s.name,
                trace_id=s.context.trace_id,
                span_id=s.context.span_id,
                parent_id=s.parent.span_id if s.parent is not None else None,
                start=s.start_time,
                end=s.end_time,
                attributes=dict(s.attributes or {}),
                status=s.status.status_code.name,
                description=s.status.description,
                resource=dict(s.resource.attributes),
                kind=s.kind.name,
            )
        )
    return found


def _value(any_value: Any) -> Any:
    which = any_value.WhichOneof("value")
    return getattr(any_value, which) if which else None


def from_request(request: ExportTraceServiceRequest) -> list[Span]:
    found = []
    for resource_spans in request.resource_spans:
        resource = {kv.key: _value(kv.value) for kv in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for s in scope_spans.spans:
                found.append(
                    Span(
                        name=s.name,
                        trace_id=int.from_bytes(s.trace_id, "big"),
                        span_id=int.from_bytes(s.span_id, "big"),
                        parent_id=int.from_bytes(s.parent_span_id, "big")
                        if s.parent_span_id
                        else None,
                        start=s.start_time_unix_nano,
                        end=s.end_time_unix_nano,
                        attributes={kv.key: _value(kv.value) for kv in s.attributes},
                        status=_PROTO_STATUS[s.status.code],
                        description=s.status.message or None,
                        resource=resource,
                        kind={1: "INTERNAL", 2: "SERVER"}.get(s.kind, str(s.kind)),
                    )
                )
    return found


@dataclass
class OtlpReceiver:
    """POST /v1/traces: decodes each ExportTraceServiceRequest and keeps its spans."""

    port: int = field(default_factory=free_port)
    spans: list[Span] = field(default_factory=list)
    requests: int = 0
    content_types: set[str] = field(default_factory=set)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def endpoint(self) -> str:
        """What OTEL_EXPORTER_OTLP_ENDPOINT names (the exporter adds /v1/traces)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> OtlpReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    raw = gzip.decompress(raw)
                if self.path != "/v1/traces":
                    self.send_response(404)
                    self.end_headers()
                    return
                request = ExportTraceServiceRequest()
                request.ParseFromString(raw)
                with receiver._lock:
                    receiver.requests += 1
                    receiver.content_types.add(self.headers.get("Content-Type", ""))
                    receiver.spans.extend(from_request(request))
                body = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def received(self) -> list[Span]:
        with self._lock:
            return list(self.spans)

    def wait_for(self, predicate: Any, timeout: float = 20) -> list[Span]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            spans = self.received()
            if predicate(spans):
                return spans
            time.sleep(0.05)
        raise AssertionError(f"the receiver did not get the spans expected: {self.received()}")


class Tree:
    """Spans by parent, with the checks every trace must pass."""

    def __init__(self, spans: list[Span]) -> None:
        self.spans = spans
        self.by_id = {s.span_id: s for s in spans}
        self.children: dict[int | None, list[Span]] = {}
        for s in spans:
            self.children.setdefault(s.parent_id, []).append(s)
        for kids in self.children.values():
            kids.sort(key=lambda s: (s.start, s.name))

    def roots(self) -> list[Span]:
        return self.children.get(None, [])

    def kids(self, span: Span, name: str | None = None) -> list[Span]:
        return [s for s in self.children.get(span.span_id, []) if name is None or s.name == name]

    def one(self, span: Span, name: str) -> Span:
        found = self.kids(span, name)
        assert len(found) == 1, f"{span.name} has {len(found)} children named {name!r}"
        return found[0]

    def check_well_formed(self) -> None:
        """One trace; unique ids; every parent present; children inside their parent."""
        assert len({s.trace_id for s in self.spans}) == 1
        assert len(self.by_id) == len(self.spans), "span ids are unique"
        assert len(self.roots()) == 1
        for s in self.spans:
            assert s.start <= s.end, s
            if s.parent_id is not None:
                parent = self.by_id.get(s.parent_id)
                assert parent is not None, f"{s.name}: its parent was never exported"
                assert parent.start <= s.start and s.end <= parent.end, (parent, s)

    def render(self) -> str:
        lines: list[str] = []

        def walk(span: Span, depth: int) -> None:
            lines.append("  " * depth + span.name)
            for kid in self.kids(span):
                walk(kid, depth + 1)

        for root in self.roots():
            walk(root, 0)
        return "\n".join(lines)
