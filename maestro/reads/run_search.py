"""Finding runs: by workflow, status, trigger, date range and params text, newest first, across
every workflow or in one (``GET /api/v1/runs``, ``GET /workflows/{id}/runs``, the web view's
``/runs`` and the workflow page's filters).

Every statement is bounded, so a search costs the same on the millionth run as on the first:

- **Index filters** choose where to read. Each status is its own keyset walk
  (``ix_runs_workflow_status`` in a workflow, ``ix_runs_status_history`` across workflows; with
  no status, a workflow's ``ix_runs_workflow_history``, or every status's walk), the walks
  merged by id. A date range becomes an id range: the first and the last run created in it,
  two probes of ``ix_runs_created`` (ids and creation times are given together at insert, so
  they agree except between runs created in the same instant by concurrent writers).
- **Row filters** (trigger, params text, the exact creation time) are checked on the runs read
  and have a budget: a page reads at most ``SCAN_BUDGET`` runs. When the budget runs out
  before the page is full, the page says how far it searched (``searched_to``) and its cursor
  continues from there — "search older", as a mail client does — instead of scanning the
  whole history in one request.
- **Counts per status** count each status's runs in the workflow and date range up to
  ``COUNT_CAP`` (one bounded index-only walk per status); beyond it a count reads "1000+".
  They do not apply the row filters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, Text, cast, func, literal, select, union_all

from maestro.states import RunStatus
from maestro.store import tables

R = tables.runs
#: the most runs one page reads to apply the row filters (trigger, params text, dates)
SCAN_BUDGET = 5000
#: counts per status stop here ("1000+")
COUNT_CAP = 1000
#: the longest params text searched for
MAX_TEXT = 200


@dataclass(frozen=True)
class RunFilter:
    """What to look for; every part optional. ``text`` is looked for in the params' JSON,
    ignoring case."""

    workflow_id: str | None = None
    statuses: tuple[RunStatus, ...] = ()
    triggers: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    text: str | None = None

    @property
    def row_filters(self) -> bool:
        """Whether some part is checked run by run (and so has a scan budget)."""
        return bool(self.triggers or self.text or self.since or self.until)

    @property
    def empty(self) -> bool:
        return not (self.statuses or self.row_filters)


@dataclass(frozen=True)
class FoundRun:
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
    params: dict[str, Any]
    parent_run_id: int | None
    restarted_from: int | None
    backfill_id: int | None

    def duration(self, now: datetime) -> float | None:
        if self.started_at is None:
            return None
        return ((self.ended_at or now) - self.started_at).total_seconds()


@dataclass(frozen=True)
class Found:
    """A page of runs, newest first."""

    runs: list[FoundRun]
    #: older runs: continue ``before=`` this id (None: nothing older matches)
    older: int | None
    #: the page stopped at its scan budget: runs older than this id were not searched yet
    searched_to: int | None = None
    counts: dict[str, int] = field(default_factory=dict)


COLUMNS = (
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
    R.c.params,
    R.c.parent_run_id,
    R.c.restarted_from,
    R.c.backfill_id,
)


def _found(row: Any) -> FoundRun:
    values = {c.name: getattr(row, c.name) for c in COLUMNS}
    values["status"] = RunStatus(values["status"])
    return FoundRun(**values)


# -- id bounds -------------------------------------------------------------------------------


@dataclass(frozen=True)
class IdRange:
    """Runs with ``low <= id < high`` (None: unbounded); ``empty`` when nothing can match."""

    low: int | None = None
    high: int | None = None
    empty: bool = False


def id_range(conn: Connection, f: RunFilter, before: int | None = None) -> IdRange:
    """The ids the search may read: below ``before``, and those of the runs created in the
    date range (two probes of ``ix_runs_created``)."""
    low: int | None = None
    high = before
    top = R.c.iteration.is_(None)
    if f.since is not None:
        first = conn.execute(
            select(R.c.id)
            .where(top, R.c.created_at >= f.since)
            .order_by(R.c.created_at.asc(), R.c.id.asc())
            .limit(1)
        ).scalar()
        if first is None:
            return IdRange(empty=True)
        low = first
    if f.until is not None:
        last = conn.execute(
            select(R.c.id)
            .where(top, R.c.created_at < f.until)
            .order_by(R.c.created_at.desc(), R.c.id.desc())
            .limit(1)
        ).scalar()
        if last is None:
            return IdRange(empty=True)
        high = last + 1 if high is None else min(high, last + 1)
    if low is not None and high is not None and low >= high:
        return IdRange(empty=True)
    return IdRange(low, high)


# -- the walks -----------------------------------------------------------------------------


def _walks(f: RunFilter, ids: IdRange, n: int, columns: Sequence[Any]) -> list[Select[Any]]:
    """One keyset walk per status (or one for the workflow's history), each the newest ``n``
    runs in ``ids``; merged by the caller."""
    if f.statuses:
        statuses: list[RunStatus | None] = list(dict.fromkeys(f.statuses))
    elif f.workflow_id is not None:
        statuses = [None]  # ix_runs_workflow_history
    else:
        statuses = list(RunStatus)  # ix_runs_status_history, every status
    walks = []
    for status in statuses:
        query = select(*columns).where(R.c.iteration.is_(None))
        if f.workflow_id is not None:
            query = query.where(R.c.workflow_id == f.workflow_id)
        if status is not None:
            query = query.where(R.c.status == status.value)
        if ids.low is not None:
            query = query.where(R.c.id >= ids.low)
        if ids.high is not None:
            query = query.where(R.c.id < ids.high)
        walks.append(query.order_by(R.c.id.desc()).limit(n))
    return walks


def _merged(walks: list[Select[Any]], n: int, name: str) -> Any:
    """The newest ``n`` of the walks' runs, as a subquery (each walk wrapped so that SQLite
    keeps its ORDER BY and LIMIT)."""
    if len(walks) == 1:
        return walks[0].subquery(name)
    parts = [select(w.subquery(f"{name}{i}")) for i, w in enumerate(walks)]
    union = union_all(*parts).subquery(f"{name}_all")
    return select(union).order_by(union.c.id.desc()).limit(n).subquery(name)


def _row_checks(f: RunFilter, source: Any) -> list[Any]:
    checks: list[Any] = []
    if f.triggers:
        checks.append(source.c.trigger.in_(list(f.triggers)))
    if f.since is not None:
        checks.append(source.c.created_at >= f.since)
    if f.until is not None:
        checks.append(source.c.created_at < f.until)
    if f.text:
        text = cast(source.c.params, Text)
        checks.append(func.lower(text).contains(f.text.lower(), autoescape=True))
    return checks


def search_query(f: RunFilter, ids: IdRange, limit: int) -> Select[Any]:
    """The page's statement: ``limit + 1`` matching runs, newest first (one more than shown
    tells whether older ones match)."""
    if not f.row_filters:
        page = _merged(_walks(f, ids, limit + 1, COLUMNS), limit + 1, "page")
        return select(page).order_by(page.c.id.desc()).limit(limit + 1)
    window = _merged(_walks(f, ids, SCAN_BUDGET, COLUMNS), SCAN_BUDGET, "window")
    return (
        select(window).where(*_row_checks(f, window)).order_by(window.c.id.desc()).limit(limit + 1)
    )


def _window_end(conn: Connection, f: RunFilter, ids: IdRange) -> tuple[int | None, int]:
    """The oldest id the budgeted window read, and how many runs it read."""
    window = _merged(_walks(f, ids, SCAN_BUDGET, (R.c.id,)), SCAN_BUDGET, "window")
    row = conn.execute(select(func.min(window.c.id), func.count())).one()
    return row[0], row[1]


def search_runs(
    conn: Connection,
    f: RunFilter,
    *,
    before: int | None = None,
    limit: int = 50,
    counts: bool = False,
) -> Found:
    """A page of the runs ``f`` matches, older than run ``before``, newest first."""
    ids = id_range(conn, f, before)
    status_counts = count_by_status(conn, f, id_range(conn, f)) if counts else {}
    if ids.empty:
        return Found([], None, counts=status_counts)
    rows = conn.execute(search_query(f, ids, limit)).all()
    runs = [_found(r) for r in rows[:limit]]
    if len(rows) > limit:
        return Found(runs, runs[-1].id, counts=status_counts)
    if not f.row_filters:
        return Found(runs, None, counts=status_counts)
    oldest_read, read = _window_end(conn, f, ids)
    if read < SCAN_BUDGET or oldest_read is None:  # the window reached the oldest run
        return Found(runs, None, counts=status_counts)
    return Found(runs, oldest_read, searched_to=oldest_read, counts=status_counts)


def count_by_status(conn: Connection, f: RunFilter, ids: IdRange) -> dict[str, int]:
    """Runs per status in the workflow and the id range, each counted up to ``COUNT_CAP + 1``
    (one statement of bounded index-only walks)."""
    if ids.empty:
        return {s.value: 0 for s in RunStatus}
    parts = []
    for status in RunStatus:
        walk = select(literal(1).label("one")).where(
            R.c.iteration.is_(None), R.c.status == status.value
        )
        if f.workflow_id is not None:
            walk = walk.where(R.c.workflow_id == f.workflow_id)
        if ids.low is not None:
            walk = walk.where(R.c.id >= ids.low)
        if ids.high is not None:
            walk = walk.where(R.c.id < ids.high)
        capped = walk.limit(COUNT_CAP + 1).subquery(f"c_{status.value.lower()}")
        parts.append(select(func.count()).select_from(capped).scalar_subquery().label(status))
    row = conn.execute(select(*parts)).one()
    return {s.value: int(row[i]) for i, s in enumerate(RunStatus)}
