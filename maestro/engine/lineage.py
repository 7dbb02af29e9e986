"""OpenLineage run events of the runs and steps a unit of work started or ended.

``collect`` runs in a unit when lineage is on (``Engine.unit``, beside ``tracing.collect``,
before ``alerting.record`` takes the unit's changes): a run or step whose status change in
this unit started it (RUNNING; a foreach or subworkflow step: waiting for its children) makes
a START, one that ended it a COMPLETE (SUCCEEDED, FAILED_IGNORED), FAIL (FAILED, TIMED_OUT)
or ABORT (STOPPED). A row that never started (queued then stopped, skipped, upstream failed)
makes none. Times come from the changes, rows are read in the same transaction (the traces'
queries, ``maestro.store.span_rows``); the engine emits after commit, so a unit that rolls
back emits nothing. Ids come from the rows (``maestro.lineage.records``), never from memory:

    <workflow>                   a run
      <workflow>.<step>          its steps (parent: the run)
        <workflow>.<step>.iteration   a foreach iteration (parent: the step); its steps are
          <workflow>.<step>.<inner>   named under the foreach step's path
        <child workflow>         a subworkflow's run (parent: the step)

A step's datasets are its definition's ``inputs``/``outputs``; a sql step that declares none
hands its statement and its connection's namespace to the sink, which reads the tables.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from maestro.connections import ConnectionLookupError, parse, resolve
from maestro.definition.steps import Step
from maestro.engine.compiled import VersionCache
from maestro.lineage.records import (
    DatasetName,
    EventType,
    JobRun,
    LineageRecord,
    SqlSource,
    run_uuid,
)
from maestro.settings import Settings
from maestro.states import RUN_TERMINAL, STEP_TERMINAL, RunStatus, StepStatus
from maestro.store import lineage_rows, span_rows
from maestro.store.unit import Unit

logger = logging.getLogger(__name__)

_TERMINAL = {"run": frozenset(map(str, RUN_TERMINAL)), "step": frozenset(map(str, STEP_TERMINAL))}
_ID_KEY = {"run": "run_id", "step": "step_run_id"}
_END_TYPE = {
    "SUCCEEDED": EventType.COMPLETE,
    "FAILED_IGNORED": EventType.COMPLETE,
    "FAILED": EventType.FAIL,
    "TIMED_OUT": EventType.FAIL,
    "STOPPED": EventType.ABORT,
}
_CHILD_STEPS = frozenset({"foreach", "subworkflow"})
#: SQLAlchemy dialect → (sqlglot dialect, namespace scheme, default schema)
_DIALECTS = {
    "postgresql": ("postgres", "postgres", "public"),
    "duckdb": ("duckdb", "duckdb", "main"),
    "sqlite": ("sqlite", "sqlite", None),
    "trino": ("trino", "trino", None),
    "presto": ("presto", "presto", None),
    "mysql": ("mysql", "mysql", None),
}


def collect(u: Unit, versions: VersionCache, settings: Settings) -> list[LineageRecord]:
    """The run events of what this unit started or ended (no statement when it did neither)."""
    seen: dict[str, dict[int, list[dict[str, Any]]]] = {"run": {}, "step": {}}
    for change in u.changes:
        entity = change.get("entity")
        if entity not in seen or change[_ID_KEY[entity]] is None:
            continue
        to = change["to_status"]
        if to in _TERMINAL[entity] or to == "RUNNING" or (entity == "step" and to == "WAITING"):
            seen[entity].setdefault(change[_ID_KEY[entity]], []).append(change)
    records: list[LineageRecord] = []
    if seen["run"]:
        records.extend(_runs(u.conn, seen["run"]))
    if seen["step"]:
        records.extend(_steps(u.conn, seen["step"], versions, settings))
    return sorted(records, key=lambda r: (r.event_time, r.event_type != EventType.START))


def _runs(conn: Connection, seen: dict[int, list[dict[str, Any]]]) -> Iterable[LineageRecord]:
    rows = span_rows.runs(conn, seen)
    parents = lineage_rows.parent_steps(
        conn, {row.parent_step_run_id for row in rows if row.parent_step_run_id is not None}
    )
    for row in rows:
        if row.started_at is None:
            continue  # stopped while queued: it never ran
        parent = parents.get(row.parent_step_run_id)
        base: dict[str, Any] = {
            "job": _run_job(row.workflow_id, row.body if row.iteration is not None else None),
            "run_id": run_uuid("run", row.id, row.created_at),
            "kind": "run",
            "parent": _parent_step(parent) if parent is not None else None,
            "attributes": {
                "workflowId": row.workflow_id,
                "version": row.version,
                "runId": row.id,
                "trigger": row.trigger,
            },
        }
        for change in seen[row.id]:
            event = _event_type(change, row.started_at, row.status)
            if event is not None:
                yield LineageRecord(
                    event_type=event,
                    event_time=change["at"],
                    error=row.error if event is EventType.FAIL else None,
                    **base,
                )


def _steps(
    conn: Connection,
    seen: dict[int, list[dict[str, Any]]],
    versions: VersionCache,
    settings: Settings,
) -> Iterable[LineageRecord]:
    for row in span_rows.steps(conn, seen):
        if row.started_at is None:
            continue  # skipped, upstream failed, stopped before it ran
        body = row.body if row.iteration is not None else None
        spec = versions.for_run(conn, row.workflow_id, row.version, row.body).steps.get(row.step_id)
        datasets = _datasets(spec, settings) if spec is not None else {}
        base: dict[str, Any] = {
            "job": f"{_scope(row.workflow_id, body)}.{row.step_id}",
            "run_id": run_uuid("step", row.id, row.run_created_at),
            "kind": "step",
            "parent": JobRun(
                _run_job(row.workflow_id, body), run_uuid("run", row.run_id, row.run_created_at)
            ),
            "attributes": {
                "workflowId": row.workflow_id,
                "stepId": row.step_id,
                "stepType": row.step_type,
                "stepRunId": row.id,
            },
            **datasets,
        }
        for change in seen[row.id]:
            if change["to_status"] == "WAITING" and row.step_type not in _CHILD_STEPS:
                continue  # held for a slot, a pool or a retry: not a start
            event = _event_type(change, row.started_at, row.status)
            if event is not None:
                yield LineageRecord(
                    event_type=event,
                    event_time=change["at"],
                    error=row.error if event is EventType.FAIL else None,
                    **base,
                )


def _event_type(change: dict[str, Any], started_at: datetime, status: str) -> EventType | None:
    to = change["to_status"]
    if to in (RunStatus.RUNNING, StepStatus.RUNNING, StepStatus.WAITING):
        # the first start only: a resumed run, a retried step's next attempt are no new run
        return EventType.START if change["at"] == started_at else None
    return _END_TYPE.get(to)


def _scope(workflow_id: str, body: str | None) -> str:
    return f"{workflow_id}.{body.replace('/', '.')}" if body else workflow_id


def _run_job(workflow_id: str, body: str | None) -> str:
    return f"{_scope(workflow_id, body)}.iteration" if body else workflow_id


def _parent_step(row: Any) -> JobRun:
    return JobRun(
        f"{_scope(row.workflow_id, row.body)}.{row.step_id}",
        run_uuid("step", row.id, row.run_created_at),
    )


def _datasets(spec: Step, settings: Settings) -> dict[str, Any]:
    """Declared datasets; else, for a sql step, its statement to parse."""
    if spec.inputs or spec.outputs:
        return {
            "inputs": tuple(DatasetName(d.namespace, d.name) for d in spec.inputs),
            "outputs": tuple(DatasetName(d.namespace, d.name) for d in spec.outputs),
        }
    if spec.sql is None:
        return {}
    source = _sql_source(spec, settings)
    return {"sql": source} if source is not None else {}


def _sql_source(spec: Step, settings: Settings) -> SqlSource | None:
    assert spec.sql is not None
    sql = spec.sql.query
    try:
        if sql is None and spec.sql.file is not None:
            sql = (settings.project_dir / spec.sql.file).read_text()
        url = parse(
            resolve(
                spec.sql.connection,
                connections_file=settings.connections_file,
                project_dir=settings.project_dir,
            ).url
        )
    except (OSError, ConnectionLookupError) as exc:
        logger.debug("lineage: no datasets for sql step %r: %s", spec.id, exc)
        return None
    if not sql or "{{" in sql:  # a template: its rendered text is not known here
        return None
    backend = url.get_backend_name()
    dialect, scheme, default_schema = _DIALECTS.get(backend, (backend, backend, None))
    database, schema = url.database, default_schema
    if backend in ("trino", "presto") and database and "/" in database:
        database, schema = database.split("/", 1)
    if url.host:
        namespace = f"{scheme}://{url.host}" + (f":{url.port}" if url.port else "")
    else:  # a file database (DuckDB, SQLite): the file is where the data lives
        namespace, database = f"{scheme}://{database or ':memory:'}", None
    return SqlSource(sql, dialect, namespace, database, schema)
