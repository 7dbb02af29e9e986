"""Spans of the runs, steps and attempts a unit of work ended (OpenTelemetry traces).

``collect`` runs in a unit when traces are on (``Engine.unit``, after the follow-ups, before
``alerting.record`` takes the unit's changes): every run, step or attempt whose status change
in this unit ended it becomes a span, with its times read from its row in the same
transaction; the engine exports them after commit, so a unit that rolls back exports nothing,
and a span is made once, by whichever process ended its row. Ids come from the rows
(``maestro.traces.spans``), never from memory:

    run <workflow>                  created → ended
      queued                        created → started (when its run strategy held it)
      step <step>                   left PENDING → ended
        attempt <step>              created (QUEUED) → ended
          queued                    created → claimed by a worker (the handoff)
          <spans of the step's own code, through TRACEPARENT>
        iteration <body>            a foreach iteration's run, and a subworkflow's run,
          step …                    under the step that made it

``step_environment`` gives a claimed attempt's process the ``TRACEPARENT`` naming its span.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from maestro.states import (
    ATTEMPT_TERMINAL,
    RUN_TERMINAL,
    STEP_TERMINAL,
    AttemptStatus,
    RunStatus,
    StepStatus,
)
from maestro.store import span_rows
from maestro.store.records import RunRow
from maestro.store.unit import Unit
from maestro.traces import SpanSink
from maestro.traces.spans import (
    TRACEPARENT,
    AttributeValue,
    Outcome,
    SpanKind,
    SpanRecord,
    span_id,
    trace_id,
    traceparent,
)

_ENDS: dict[str, frozenset[str]] = {
    "run": frozenset(map(str, RUN_TERMINAL)),
    "step": frozenset(map(str, STEP_TERMINAL)),
    "attempt": frozenset(map(str, ATTEMPT_TERMINAL)),
}
_ID_KEY = {"run": "run_id", "step": "step_run_id", "attempt": "attempt_id"}
_ERRORS = frozenset(
    {
        RunStatus.FAILED,
        RunStatus.TIMED_OUT,
        StepStatus.FAILED,
        StepStatus.FAILED_IGNORED,
        StepStatus.TIMED_OUT,
        AttemptStatus.FAILED,
        AttemptStatus.TIMED_OUT,
        AttemptStatus.LOST,
    }
)
#: the status as the OpenTelemetry CI/CD conventions say a pipeline's or task's result
_RESULTS = {
    "SUCCEEDED": "success",
    "FAILED": "failure",
    "FAILED_IGNORED": "failure",
    "TIMED_OUT": "timeout",
    "LOST": "error",
    "STOPPED": "cancellation",
    "SKIPPED": "skip",
    "UPSTREAM_FAILED": "skip",
}

# -- what a claimed attempt's process sees ---------------------------------------------------


def step_environment(
    conn: Connection, run: RunRow, attempt_id: int, sink: SpanSink
) -> dict[str, str]:
    """``TRACEPARENT`` for the process of attempt ``attempt_id``: its span is the parent of
    what the step's code traces. (No ``TRACESTATE``: a run's trace starts here, with none.)"""
    if run.parent_run_id is None:
        trace = trace_id(run.id, run.created_at)
    else:
        trace = trace_id(*span_rows.root(conn, run.id))
    parent = span_id(trace, SpanKind.attempt, attempt_id)
    return {TRACEPARENT: traceparent(trace, parent, sampled=sink.sampled(trace))}


# -- spans of a unit ----------------------------------------------------------------------------


def collect(u: Unit) -> list[SpanRecord]:
    """The spans of what this unit ended (none for a unit that ended nothing: no statement)."""
    ended: dict[str, dict[int, datetime]] = {"run": {}, "step": {}, "attempt": {}}
    ready: dict[int, datetime] = {}  # steps that left PENDING in this unit, and when
    for change in u.changes:
        entity = change.get("entity")
        if entity not in _ENDS:
            continue
        if entity == "step" and change["from_status"] == StepStatus.PENDING:
            ready[change["step_run_id"]] = change["at"]
        if change["to_status"] in _ENDS[entity] and change[_ID_KEY[entity]] is not None:
            ended[entity][change[_ID_KEY[entity]]] = change["at"]
    spans: list[SpanRecord] = []
    if ended["run"]:
        spans.extend(_runs(u.conn, ended["run"]))
    if ended["step"]:
        spans.extend(_steps(u.conn, ended["step"], ready))
    if ended["attempt"]:
        spans.extend(_attempts(u.conn, ended["attempt"]))
    return spans


def _runs(conn: Connection, ended: dict[int, datetime]) -> Iterable[SpanRecord]:
    for row in span_rows.runs(conn, ended):
        trace = _trace(row, row.id, row.created_at)
        end = row.ended_at or ended[row.id]
        own = span_id(trace, SpanKind.run, row.id)
        attributes = {
            **_run_attributes(row, row.id, row.number),
            "maestro.run.trigger": row.trigger,
            "cicd.pipeline.name": row.workflow_id,
            "cicd.pipeline.run.id": str(row.id),
            **_result(row.status, row.error, "cicd.pipeline.result"),
        }
        iteration = row.iteration is not None and row.body is not None
        yield SpanRecord(
            name=f"iteration {row.body}" if iteration else f"run {row.workflow_id}",
            trace_id=trace,
            span_id=own,
            parent_id=(
                span_id(trace, SpanKind.step, row.parent_step_run_id)
                if row.parent_step_run_id is not None
                else None
            ),
            start=row.created_at,
            end=end,
            attributes=attributes,
            **_outcome(row.status, row.error),
        )
        if row.started_at is not None and row.started_at > row.created_at:
            yield _queued(trace, SpanKind.run_queued, row.id, own, row.created_at, row.started_at)


def _steps(
    conn: Connection, ended: dict[int, datetime], ready: dict[int, datetime]
) -> Iterable[SpanRecord]:
    rows = span_rows.steps(conn, ended)
    left_pending = _left_pending(conn, rows, ready)
    for row in rows:
        trace = _trace(row, row.run_id, row.run_created_at)
        end = row.ended_at or ended[row.id]
        start = left_pending.get(row.id) or row.started_at or end
        yield SpanRecord(
            name=f"step {row.step_id}",
            trace_id=trace,
            span_id=span_id(trace, SpanKind.step, row.id),
            parent_id=span_id(trace, SpanKind.run, row.run_id),
            start=min(start, end),
            end=end,
            attributes={
                **_run_attributes(row, row.run_id, row.run_number),
                **_step_attributes(row.step_id, row.step_type, row.id),
                "maestro.step.attempts": row.attempts,
                **_result(row.status, row.error, "cicd.pipeline.task.run.result"),
            },
            **_outcome(row.status, row.error),
        )


def _left_pending(
    conn: Connection, rows: Sequence[Any], ready: dict[int, datetime]
) -> dict[int, datetime]:
    """When each step last left PENDING (became ready): from this unit's changes, else from
    its events (one statement for the steps that need it)."""
    found = {row.id: ready[row.id] for row in rows if row.id in ready}
    missing = [row for row in rows if row.id not in found]
    if missing:
        run_ids = {row.run_id for row in missing}
        found.update(span_rows.left_pending(conn, run_ids, [row.id for row in missing]))
    return found


def _attempts(conn: Connection, ended: dict[int, datetime]) -> Iterable[SpanRecord]:
    for row in span_rows.attempts(conn, ended):
        trace = _trace(row, row.run_id, row.run_created_at)
        end = row.ended_at or ended[row.id]
        own = span_id(trace, SpanKind.attempt, row.id)
        attributes: dict[str, AttributeValue] = {
            **_run_attributes(row, row.run_id, row.run_number),
            **_step_attributes(row.step_id, row.step_type, row.step_run_id),
            "maestro.attempt": row.number,
            "maestro.attempt.id": row.id,
            "maestro.queue": row.queue,
            **_result(row.status, row.error, "cicd.pipeline.task.run.result"),
        }
        if row.worker:
            attributes["maestro.worker"] = row.worker
        if row.exit_code is not None:
            attributes["process.exit.code"] = row.exit_code
        yield SpanRecord(
            name=f"attempt {row.step_id}",
            trace_id=trace,
            span_id=own,
            parent_id=span_id(trace, SpanKind.step, row.step_run_id),
            start=row.created_at,
            end=end,
            attributes=attributes,
            **_outcome(row.status, row.error),
        )
        claimed = min(row.started_at or end, end)
        yield _queued(trace, SpanKind.attempt_queued, row.id, own, row.created_at, claimed)


# -- helpers ----------------------------------------------------------------------------------


def _trace(row: Any, run_id: int, run_created_at: datetime) -> int:
    """The trace of a row's run: its top-level run's."""
    if row.root_run_id is not None and row.root_created_at is not None:
        return trace_id(row.root_run_id, row.root_created_at)
    return trace_id(run_id, run_created_at)


def _queued(
    trace: int, kind: SpanKind, row_id: int, parent: int, start: datetime, end: datetime
) -> SpanRecord:
    return SpanRecord(
        name="queued",
        trace_id=trace,
        span_id=span_id(trace, kind, row_id),
        parent_id=parent,
        start=start,
        end=end,
        attributes={"maestro.wait": "run" if kind is SpanKind.run_queued else "attempt"},
    )


def _run_attributes(row: Any, run_id: int, number: int) -> dict[str, AttributeValue]:
    """What every span of a run says of it (a foreach iteration: its index, not a number)."""
    found: dict[str, AttributeValue] = {
        "maestro.workflow.id": row.workflow_id,
        "maestro.workflow.version": row.version,
        "maestro.run.id": run_id,
    }
    if row.iteration is None:
        found["maestro.run.number"] = number
    else:
        found["maestro.foreach.iteration"] = row.iteration
    return found


def _step_attributes(step_id: str, step_type: str, step_run_id: int) -> dict[str, AttributeValue]:
    return {
        "maestro.step.id": step_id,
        "maestro.step.type": step_type,
        "cicd.pipeline.task.name": step_id,
        "cicd.pipeline.task.run.id": str(step_run_id),
    }


def _result(status: str, error: str | None, key: str) -> dict[str, AttributeValue]:
    found: dict[str, AttributeValue] = {"maestro.status": status}
    if status in _RESULTS:
        found[key] = _RESULTS[status]
    if error:
        found["maestro.error"] = error
    if status in _ERRORS:
        found["error.type"] = status
    return found


def _outcome(status: str, error: str | None) -> dict[str, Any]:
    if status in _ERRORS:
        return {"outcome": Outcome.error, "description": error or status}
    if status in (RunStatus.SUCCEEDED, StepStatus.SUCCEEDED):
        return {"outcome": Outcome.ok}
    return {}
