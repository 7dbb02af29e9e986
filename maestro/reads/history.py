"""Read models of the web view: the run-history grid of a workflow, the newest runs of many
workflows at once, and what the run page draws (step states, attempts, foreach iterations).

Every query is index-backed and bounded, so a page costs the same on a workflow's millionth
run as on its first: the grid is one statement (a keyset page of runs on
``ix_runs_workflow_history`` joined to their steps on ``uq_step_runs_run_step``), the
workflows list one ``UNION ALL`` of per-workflow index probes, never a ``GROUP BY`` or a
window over a whole history.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, literal, select, union_all

from maestro.reads.run_search import Found, RunFilter, search_runs
from maestro.states import RunStatus, StepStatus
from maestro.store import tables

R, S, A = tables.runs, tables.step_runs, tables.attempts
#: the most runs one grid page shows
MAX_GRID_RUNS = 200
#: the most attempts the run page's timeline reads
MAX_ATTEMPTS = 2000
#: the most child runs listed per foreach step
MAX_CHILDREN = 500


@dataclass(frozen=True)
class RunBar:
    """One run as the history shows it: a square, a grid column, a bar of the duration chart."""

    id: int
    number: int
    version: int
    status: RunStatus
    trigger: str
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None

    def duration(self, now: datetime) -> float | None:
        """Seconds from start to end (to ``now`` while it runs); None before it started."""
        if self.started_at is None:
            return None
        return ((self.ended_at or now) - self.started_at).total_seconds()


@dataclass(frozen=True)
class GridCell:
    status: StepStatus
    attempts: int


@dataclass(frozen=True)
class Grid:
    """Runs (newest first) × steps, and the keyset cursors of the neighbouring pages."""

    runs: list[RunBar]
    steps: list[str]
    cells: dict[tuple[int, str], GridCell]
    #: ``before=`` this run id shows older runs (None: this page reaches the oldest)
    older: int | None
    #: ``after=`` this run id shows newer runs (None: this page starts at the newest)
    newer: int | None


_BAR_COLUMNS = (
    R.c.id,
    R.c.number,
    R.c.version,
    R.c.status,
    R.c.trigger,
    R.c.created_at,
    R.c.started_at,
    R.c.ended_at,
)


def _bar(row: Any) -> RunBar:
    return RunBar(
        id=row.id,
        number=row.number,
        version=row.version,
        status=RunStatus(row.status),
        trigger=row.trigger,
        created_at=row.created_at,
        started_at=row.started_at,
        ended_at=row.ended_at,
    )


def _history(workflow_id: str) -> Select[Any]:
    """The workflow's own runs (not foreach iterations), read on ``ix_runs_workflow_history``."""
    return select(*_BAR_COLUMNS).where(R.c.workflow_id == workflow_id, R.c.iteration.is_(None))


def _page_of_runs(workflow_id: str, before: int | None, after: int | None, n: int) -> Select[Any]:
    query = _history(workflow_id)
    if after is not None:  # newer than ``after``: walk the index forwards, the nearest first
        return query.where(R.c.id > after).order_by(R.c.id.asc()).limit(n)
    if before is not None:
        query = query.where(R.c.id < before)
    return query.order_by(R.c.id.desc()).limit(n)


def grid_query(
    workflow_id: str, *, before: int | None = None, after: int | None = None, runs: int = 51
) -> Select[Any]:
    """The grid's one statement: a keyset page of ``runs`` runs (``ix_runs_workflow_history``)
    joined to their steps (``uq_step_runs_run_step``), newest first (``bench/web.py`` checks
    its plan at 100,000 runs)."""
    page = _page_of_runs(workflow_id, before, after, runs).subquery("page")
    return (
        select(page, S.c.step_id, S.c.status.label("step_status"), S.c.attempts, S.c.position)
        .select_from(page.outerjoin(S, S.c.run_id == page.c.id))
        .order_by(page.c.id.desc(), S.c.position)
    )


def run_grid(
    conn: Connection,
    workflow_id: str,
    *,
    before: int | None = None,
    after: int | None = None,
    limit: int = 50,
) -> Grid:
    """A page of the workflow's run history with every step's status, in one statement.

    ``before``: runs older than that run id (the next page); ``after``: runs newer than it
    (the previous page); neither: the newest runs. One run more than shown is read to know
    whether the page has a neighbour in that direction.
    """
    limit = max(1, min(limit, MAX_GRID_RUNS))
    rows = conn.execute(grid_query(workflow_id, before=before, after=after, runs=limit + 1)).all()
    runs, cells, positions = _collect(rows)
    more_this_way = len(runs) > limit
    older: int | None
    newer: int | None
    if after is not None:  # read ascending: the extra run is the newest one
        if not more_this_way:  # this page reaches the newest run: show a full newest page
            return run_grid(conn, workflow_id, limit=limit)
        runs = runs[-limit:]
        newer = runs[0].id
        older = runs[-1].id if _exists(conn, workflow_id, older_than=runs[-1].id) else None
    else:
        runs = runs[:limit]
        older = runs[-1].id if more_this_way else None
        newer = runs[0].id if runs and _exists(conn, workflow_id, newer_than=runs[0].id) else None
    shown = {r.id for r in runs}
    cells = {key: cell for key, cell in cells.items() if key[0] in shown}
    steps = sorted({s for (run_id, s) in cells}, key=lambda s: (positions[s], s))
    return Grid(runs=runs, steps=steps, cells=cells, older=older, newer=newer)


def _collect(
    rows: Sequence[Any],
) -> tuple[list[RunBar], dict[tuple[int, str], GridCell], dict[str, int]]:
    """Runs (newest first), cells, and each step's position in the newest run that has it
    (the row order of the grid: the current definition's order, older steps where they were)."""
    runs: dict[int, RunBar] = {}
    cells: dict[tuple[int, str], GridCell] = {}
    positions: dict[str, int] = {}
    for row in rows:
        if row.id not in runs:
            runs[row.id] = _bar(row)
        if row.step_id is None:  # a run without steps yet (QUEUED)
            continue
        cells[(row.id, row.step_id)] = GridCell(StepStatus(row.step_status), row.attempts)
        positions.setdefault(row.step_id, row.position)
    return list(runs.values()), cells, positions


def _exists(
    conn: Connection,
    workflow_id: str,
    *,
    older_than: int | None = None,
    newer_than: int | None = None,
) -> bool:
    """Whether the workflow has a run older (or newer) than the given one. Ordered by id so that
    the planner walks ``ix_runs_workflow_history`` from the bound: without it PostgreSQL may
    walk the primary key instead and filter out every other workflow's newer runs (34 ms at
    300,000 runs, measured by ``bench/web.py``)."""
    query = select(literal(1)).where(R.c.workflow_id == workflow_id, R.c.iteration.is_(None))
    if older_than is not None:
        query = query.where(R.c.id < older_than).order_by(R.c.id.desc())
    if newer_than is not None:
        query = query.where(R.c.id > newer_than).order_by(R.c.id.asc())
    return conn.execute(query.limit(1)).first() is not None


def recent_runs(
    conn: Connection, workflow_ids: Sequence[str], per_workflow: int = 20
) -> dict[str, list[RunBar]]:
    """The newest ``per_workflow`` runs of each workflow, newest first: one statement, a
    ``UNION ALL`` of one bounded index probe per workflow (SQLite has no LATERAL join)."""
    if not workflow_ids:
        return {}
    probes = [
        select(literal(wf).label("wf"), *_BAR_COLUMNS)
        .where(R.c.workflow_id == wf, R.c.iteration.is_(None))
        .order_by(R.c.id.desc())
        .limit(per_workflow)
        .subquery(f"w{i}")
        for i, wf in enumerate(dict.fromkeys(workflow_ids))
    ]
    union = union_all(*(select(p) for p in probes)).subquery("recent")
    found: dict[str, list[RunBar]] = {wf: [] for wf in workflow_ids}
    for row in conn.execute(select(union).order_by(union.c.wf, union.c.id.desc())):
        found[row.wf].append(_bar(row))
    return found


# -- the run page ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttemptBar:
    """One attempt on the run's timeline."""

    step_id: str
    number: int
    status: str
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    worker: str | None


def run_attempts(conn: Connection, run_id: int, limit: int = MAX_ATTEMPTS) -> list[AttemptBar]:
    """The run's attempts in the order they were created (``ix_attempts_run``)."""
    rows = conn.execute(
        select(
            S.c.step_id,
            A.c.number,
            A.c.status,
            A.c.created_at,
            A.c.started_at,
            A.c.ended_at,
            A.c.worker,
        )
        .select_from(A.join(S, S.c.id == A.c.step_run_id))
        .where(A.c.run_id == run_id)
        .order_by(A.c.id)
        .limit(limit)
    )
    return [
        AttemptBar(r.step_id, r.number, r.status, r.created_at, r.started_at, r.ended_at, r.worker)
        for r in rows
    ]


@dataclass(frozen=True)
class ChildRun:
    id: int
    iteration: int | None
    number: int
    status: RunStatus
    workflow_id: str


@dataclass(frozen=True)
class Children:
    """The child runs of the run's foreach and subworkflow steps, per step id."""

    by_step: dict[str, list[ChildRun]] = field(default_factory=dict)


def child_runs(conn: Connection, run_id: int, per_step: int = MAX_CHILDREN) -> Children:
    """Child runs of the run's steps in iteration order (``ix_runs_parent_step``), at most
    ``per_step`` of each step."""
    found: dict[str, list[ChildRun]] = {}
    parents = conn.execute(
        select(S.c.id, S.c.step_id)
        .where(S.c.run_id == run_id, S.c.step_type.in_(("foreach", "subworkflow")))
        .order_by(S.c.position)
    ).all()
    for parent in parents:
        rows = conn.execute(
            select(R.c.id, R.c.iteration, R.c.number, R.c.status, R.c.workflow_id)
            .where(R.c.parent_step_run_id == parent.id)
            .order_by(R.c.iteration, R.c.id)
            .limit(per_step)
        )
        found[parent.step_id] = [
            ChildRun(r.id, r.iteration, r.number, RunStatus(r.status), r.workflow_id) for r in rows
        ]
    return Children(found)


@dataclass(frozen=True)
class ParentLink:
    """Where a child run comes from: its parent run and step."""

    run_id: int
    step_id: str
    iteration: int | None


def parent_link(conn: Connection, run_id: int) -> ParentLink | None:
    row = conn.execute(
        select(S.c.run_id, S.c.step_id, R.c.iteration)
        .select_from(R.join(S, S.c.id == R.c.parent_step_run_id))
        .where(R.c.id == run_id)
    ).first()
    return None if row is None else ParentLink(row.run_id, row.step_id, row.iteration)


def run_body(conn: Connection, run_id: int) -> str | None:
    """The foreach body a child run executes ("outer/inner"), None for a workflow's own DAG."""
    body: str | None = conn.execute(select(R.c.body).where(R.c.id == run_id)).scalar()
    return body


def filtered_grid(
    conn: Connection, f: RunFilter, *, before: int | None = None, limit: int = 50
) -> tuple[Grid, Found]:
    """The grid of the runs a filter finds (``run_search``: bounded at any history size), with
    the counts per status; paged backwards only (``before=``)."""
    limit = max(1, min(limit, MAX_GRID_RUNS))
    found = search_runs(conn, f, before=before, limit=limit, counts=True)
    runs = [
        RunBar(
            id=r.id,
            number=r.number,
            version=r.version,
            status=r.status,
            trigger=r.trigger,
            created_at=r.created_at,
            started_at=r.started_at,
            ended_at=r.ended_at,
        )
        for r in found.runs
    ]
    cells: dict[tuple[int, str], GridCell] = {}
    positions: dict[str, int] = {}
    if runs:
        rows = conn.execute(
            select(S.c.run_id, S.c.step_id, S.c.status, S.c.attempts, S.c.position)
            .where(S.c.run_id.in_([r.id for r in runs]))
            .order_by(S.c.run_id.desc(), S.c.position)
        )
        for row in rows:
            cells[(row.run_id, row.step_id)] = GridCell(StepStatus(row.status), row.attempts)
            positions.setdefault(row.step_id, row.position)
    steps = sorted(positions, key=lambda s: (positions[s], s))
    return Grid(runs=runs, steps=steps, cells=cells, older=found.older, newer=None), found
