"""Runs: the history of a workflow (``ix_runs_workflow_history`` on ``(workflow_id, id)``,
read backwards), a run's detail, and a run with its steps (what ``maestro run`` prints)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, func, select

from maestro.errors import NotFound
from maestro.reads.paging import MAX_LIMIT, Page, clamp_limit, encode_cursor, int_cursor
from maestro.reads.run_search import FoundRun, IdRange, RunFilter, search_query, search_runs
from maestro.reads.workflows import workflow_owner
from maestro.states import RunStatus
from maestro.store import tables

W, R, S, E = tables.workflows, tables.runs, tables.step_runs, tables.events


# -- runs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSummary:
    id: int
    workflow_id: str
    number: int
    version: int
    status: RunStatus
    trigger: str
    logical_date: datetime
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    error: str | None
    parent_run_id: int | None
    restarted_from: int | None


@dataclass(frozen=True)
class RunDetail(RunSummary):
    params: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    steps_total: int = 0
    step_counts: dict[str, int] = field(default_factory=dict)
    #: runs started by this one's steps (foreach iterations, subworkflows), at most 500
    children: list[int] = field(default_factory=list)
    #: who created it: a token's name, "cli", "anonymous", or "system" (a trigger, a parent)
    started_by: str | None = None
    #: who ended it: the actor of the change to its final status ("system" when it ran out)
    ended_by: str | None = None
    #: a foreach iteration's values: ``{name: value}`` (its ``as`` name, or each matrix name)
    iteration_values: dict[str, Any] | None = None


_SUMMARY_COLUMNS = (
    R.c.id,
    R.c.workflow_id,
    R.c.number,
    R.c.version,
    R.c.status,
    R.c.trigger,
    R.c.logical_date,
    R.c.created_at,
    R.c.started_at,
    R.c.ended_at,
    R.c.error,
    R.c.parent_run_id,
    R.c.restarted_from,
)


def _run_summary(row: Any) -> RunSummary:
    values = {c.name: getattr(row, c.name) for c in _SUMMARY_COLUMNS}
    values["status"] = RunStatus(values["status"])
    return RunSummary(**values)


@dataclass(frozen=True)
class RunsFound(Page[RunSummary]):
    #: the page stopped at its scan budget: runs older than this id were not searched yet
    #: (the cursor continues from there)
    searched_to: int | None = None
    #: runs per status (workflow and date range only), each counted up to ``COUNT_CAP + 1``
    counts: dict[str, int] | None = None


def _filter(
    workflow_id: str | None,
    statuses: Collection[str],
    triggers: Collection[str],
    since: datetime | None,
    until: datetime | None,
    text: str | None,
) -> RunFilter:
    return RunFilter(
        workflow_id=workflow_id,
        statuses=tuple(RunStatus(s) for s in statuses),
        triggers=tuple(triggers),
        since=since,
        until=until,
        text=text or None,
    )


def run_history_query(
    workflow_id: str,
    *,
    statuses: Collection[str] = (),
    triggers: Collection[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    text: str | None = None,
    before: int | None = None,
    limit: int = 50,
) -> Select[Any]:
    """The history page's statement for an id range known already (``bench/history.py``
    checks its plan): newest first, by keyset on ``runs.id``."""
    f = _filter(workflow_id, statuses, triggers, since, until, text)
    return search_query(f, IdRange(high=before), limit)


def _summary(run: FoundRun) -> RunSummary:
    return RunSummary(**{name: getattr(run, name) for name in RunSummary.__dataclass_fields__})


def run_history(
    conn: Connection,
    workflow_id: str | None,
    *,
    statuses: Collection[str] = (),
    triggers: Collection[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    text: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
    counts: bool = False,
) -> RunsFound:
    """A page of runs, newest first: one workflow's (404 for an unknown one, not an empty
    page) or every workflow's (``workflow_id`` None). See ``run_search`` for what each filter
    costs."""
    limit = clamp_limit(limit)
    if workflow_id is not None:
        workflow_owner(conn, workflow_id)
    f = _filter(workflow_id, statuses, triggers, since, until, text)
    found = search_runs(conn, f, before=int_cursor(cursor), limit=limit, counts=counts)
    return RunsFound(
        items=[_summary(r) for r in found.runs],
        next_cursor=encode_cursor(found.older) if found.older is not None else None,
        searched_to=found.searched_to,
        counts=found.counts or None,
    )


def run_detail(conn: Connection, run_id: int) -> RunDetail:
    row = conn.execute(
        select(*_SUMMARY_COLUMNS, R.c.params, R.c.outputs, R.c.steps_total, R.c.scope).where(
            R.c.id == run_id
        )
    ).first()
    if row is None:
        raise NotFound(f"run {run_id} does not exist")
    counts = conn.execute(
        select(S.c.status, func.count()).where(S.c.run_id == run_id).group_by(S.c.status)
    ).all()
    # child runs through the run's steps: ix_runs_parent_step, never a scan of all runs
    children = conn.execute(
        select(R.c.id)
        .where(R.c.parent_step_run_id.in_(select(S.c.id).where(S.c.run_id == run_id)))
        .order_by(R.c.id)
        .limit(MAX_LIMIT)
    ).scalars()
    started_by, ended_by = _actors(conn, run_id, row.status, row.ended_at is not None)
    return RunDetail(
        **vars(_run_summary(row)),
        params=row.params or {},
        outputs=row.outputs or {},
        steps_total=row.steps_total,
        step_counts={str(status): n for status, n in counts},
        children=list(children),
        started_by=started_by,
        ended_by=ended_by,
        iteration_values=_iteration_values(row.scope),
    )


def _iteration_values(scope: dict[str, Any] | None) -> dict[str, Any] | None:
    if not scope or "index" not in scope:
        return None
    if "var" in scope:
        return {scope["var"]: scope.get("item")}
    return dict(scope.get("vars", {}))


def _actors(
    conn: Connection, run_id: int, status: str, ended: bool
) -> tuple[str | None, str | None]:
    """The actors of the run's first event and of its move to ``status`` (on ix_events_run)."""
    runs_events = (E.c.run_id == run_id) & (E.c.entity == "run")
    first = conn.execute(select(E.c.actor).where(runs_events).order_by(E.c.id).limit(1)).scalar()
    last = None
    if ended:
        last = conn.execute(
            select(E.c.actor)
            .where(runs_events, E.c.to_status == status)
            .order_by(E.c.id.desc())
            .limit(1)
        ).scalar()
    return first, last


def run_owner(conn: Connection, run_id: int) -> str:
    """The owner of the run's workflow (whom a write token must act for)."""
    owner: str | None = conn.execute(
        select(W.c.owner).select_from(R.join(W, W.c.id == R.c.workflow_id)).where(R.c.id == run_id)
    ).scalar()
    if owner is None:
        raise NotFound(f"run {run_id} does not exist")
    return owner


def run_by_idempotency_key(conn: Connection, workflow_id: str, key: str) -> int | None:
    run_id: int | None = conn.execute(
        select(R.c.id).where(R.c.workflow_id == workflow_id, R.c.idempotency_key == key)
    ).scalar()
    return run_id


def require_run(conn: Connection, run_id: int) -> None:
    """Raise NotFound naming the run when it does not exist."""
    if conn.execute(select(R.c.id).where(R.c.id == run_id)).first() is None:
        raise NotFound(f"run {run_id} does not exist")
