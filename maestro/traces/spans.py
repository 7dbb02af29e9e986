"""Spans as plain records, and the ids that tie them together across processes.

A run, a step or an attempt may start in one process and end in another (the scheduler, a
worker, the API), so no process holds a live span object. Every id is derived instead: the
trace id from the top-level run (its id and creation time, so that two stores that both have
a run 1 make different traces), each span id from the row it stands for. Whoever records an
end computes the same ids as whoever started the row, and as the worker that told the step's
process its ``TRACEPARENT``. Nothing here imports OpenTelemetry.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

#: attribute values OpenTelemetry takes
AttributeValue = str | int | float | bool

#: the W3C trace context variables a step's process gets (the OpenTelemetry specification's
#: "environment variables as context propagation carriers")
TRACEPARENT = "TRACEPARENT"
TRACESTATE = "TRACESTATE"


class SpanKind(StrEnum):
    """What a span stands for; part of its id."""

    run = "run"
    step = "step"
    attempt = "attempt"
    #: a run's wait in QUEUED until its run strategy admitted it
    run_queued = "run-queued"
    #: an attempt's wait in QUEUED until a worker claimed it (the handoff)
    attempt_queued = "attempt-queued"


class Outcome(StrEnum):
    """A span's status, as OpenTelemetry names them."""

    unset = "unset"
    ok = "ok"
    error = "error"


@dataclass(frozen=True)
class SpanRecord:
    """One ended span: everything an exporter needs, made from committed rows."""

    name: str
    trace_id: int
    span_id: int
    #: None for a run's own span when the run is the root of its trace
    parent_id: int | None
    start: datetime
    end: datetime
    attributes: dict[str, AttributeValue]
    outcome: Outcome = Outcome.unset
    #: the status description of an error span (the error message)
    description: str | None = None


def trace_id(root_run_id: int, root_created_at: datetime) -> int:
    """The trace of a top-level run and of every child run under it (128 bits, never 0)."""
    key = f"maestro:{root_run_id}:{_instant(root_created_at)}"
    return _digest(key, 16)


def span_id(trace: int, kind: SpanKind, row_id: int) -> int:
    """The span of row ``row_id`` (a run, step run or attempt id) in ``trace`` (64 bits)."""
    return _digest(f"{trace:032x}:{kind.value}:{row_id}", 8)


def traceparent(trace: int, span: int, *, sampled: bool = True) -> str:
    """The W3C ``traceparent`` naming ``span`` as the parent of what a process makes."""
    return f"00-{trace:032x}-{span:016x}-{'01' if sampled else '00'}"


def _instant(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _digest(key: str, size: int) -> int:
    value = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=size).digest(), "big")
    return value or 1  # all-zero ids are invalid
