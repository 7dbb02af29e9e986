"""Admission: starting a workflow's QUEUED runs as its run strategy allows.

``admit_workflow`` locks the workflow row (``SELECT … FOR UPDATE``) while it decides and, in
the same unit of work, stops what the strategy stops and starts what it admits: two
schedulers (or a scheduler and an API call) admitting runs of one workflow take turns, so a
strategy's limit is never exceeded. Runs start in creation order.

Who calls it: the scheduler, on every pass, for each workflow with QUEUED runs; whoever creates
a run and wants it started now if the strategy allows (``admit_or_queue``, in the unit that
created it: the API, cron and signal triggers, backfills).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Connection, bindparam, literal, select, union_all

from maestro.definition.models import RunStrategy, RunStrategyKind
from maestro.engine.advance import RunAdvance
from maestro.engine.compiled import VersionCache
from maestro.engine.start import start_run
from maestro.engine.strategies import (
    Decision,
    Lane,
    decide,
    decide_backfill,
    is_open,
    regular,
    restart_chain,
)
from maestro.states import BackfillStatus, RunStatus
from maestro.store import direct, tables
from maestro.store.records import load_run
from maestro.store.tables import status_is
from maestro.store.unit import Unit

W, R, B = tables.workflows, tables.runs, tables.backfills


def admit_or_queue(u: Unit, versions: VersionCache, run_id: int) -> bool:
    """Start the QUEUED run ``run_id`` now if its workflow's strategy admits it (older queued
    runs go first); otherwise it stays QUEUED, or the strategy stops it. True if it started.

    A run this unit created (``create_run``) is admitted on the workflow row its creation
    locked and read (``Unit.counted_workflows``): no statement locks or reads it again, and
    the workflow's backfills are left to the scheduler (a regular run does not change their
    lanes)."""
    new = u.new_runs.get(run_id)
    counted = u.counted_workflows.get(new.workflow_id) if new is not None else None
    if new is None or counted is None:
        started = admit_workflow(u, versions, load_run(u.conn, run_id).workflow_id)
    else:
        workflow_id = new.workflow_id
        strategy = versions.get(u.conn, workflow_id, counted.active_version).definition
        started = _admit_regular(
            u, versions, workflow_id, strategy.run_strategy, counted.blocked_by_run_id
        )
    return run_id in started


def admit_workflow(u: Unit, versions: VersionCache, workflow_id: str) -> list[int]:
    """Apply the workflow's strategy to its queued runs; returns the ids of the runs started."""
    wf = u.conn.execute(
        select(W.c.active_version, W.c.blocked_by_run_id)
        .where(W.c.id == workflow_id)
        .with_for_update()
    ).first()
    if wf is None:
        return []
    strategy = versions.get(u.conn, workflow_id, wf.active_version).definition.run_strategy
    started = _admit_regular(u, versions, workflow_id, strategy, wf.blocked_by_run_id)
    for backfill_id, max_concurrency in _running_backfills(u.conn, workflow_id):
        limit = max_concurrency or strategy.max_concurrency
        lane = _backfill_lane(u.conn, backfill_id, limit)
        started += _apply(u, versions, decide_backfill(limit, lane))
    return started


def workflows_with_queued_runs(
    conn: Connection, *, after: str = "", limit: int, scope: Collection[int] | None = None
) -> list[str]:
    """Workflows that have QUEUED runs to admit, by id after ``after`` (the scheduler pages
    through them across passes so that none waits behind the others)."""
    query = (
        select(R.c.workflow_id)
        .distinct()
        .where(
            is_open(R.c.status),
            status_is(R.c.status, RunStatus.QUEUED),
            R.c.parent_run_id.is_(None),
            R.c.workflow_id > after,
        )
        .order_by(R.c.workflow_id)
        .limit(limit)
    )
    if scope is not None:
        query = query.where(R.c.id.in_(list(scope)))
    return list(conn.execute(query).scalars())


# -- internals --------------------------------------------------------------------------------


def _admit_regular(
    u: Unit, versions: VersionCache, workflow_id: str, strategy: RunStrategy, blocked_by: int | None
) -> list[int]:
    if strategy.kind is not RunStrategyKind.strict_sequential:
        blocked_by = None
    capped = strategy.kind not in (RunStrategyKind.first_only, RunStrategyKind.last_only)
    active, queued = _regular_lane(
        u.conn,
        workflow_id,
        restarts_only=blocked_by is not None,
        limit=strategy.max_concurrency if capped else _UNCAPPED,
    )
    restarts = (
        frozenset(q for q in queued if blocked_by in restart_chain(u.conn, q))
        if blocked_by is not None
        else frozenset()
    )
    decision = decide(
        strategy, Lane(active, queued), blocked_by=blocked_by, restarts_of_blocker=restarts
    )
    return _apply(u, versions, decision)


#: the queued runs of a workflow considered at once by a strategy without a concurrency cap
_UNCAPPED = 2**31 - 1


def _lane_statement(restarts_only: bool) -> Any:
    """A workflow's active regular runs and its first ``p_limit`` queued ones (only restarts
    with ``restarts_only``), in one statement: (id, queued)."""
    workflow = R.c.workflow_id == bindparam("p_workflow")
    active = select(R.c.id, literal(False).label("queued")).where(
        workflow, is_open(R.c.status), R.c.status != RunStatus.QUEUED.value, regular()
    )
    waiting = [workflow, is_open(R.c.status), status_is(R.c.status, RunStatus.QUEUED), regular()]
    if restarts_only:
        waiting.append(R.c.restarted_from.is_not(None))
    queued = (
        select(R.c.id, literal(True).label("queued"))
        .where(*waiting)
        .order_by(R.c.id)
        .limit(bindparam("p_limit"))
        .subquery()
    )
    return union_all(active, select(queued.c.id, queued.c.queued))


_LANE = {flag: _lane_statement(flag) for flag in (False, True)}


def _regular_lane(
    conn: Connection, workflow_id: str, *, restarts_only: bool, limit: int
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(active, queued) run ids of the workflow's regular lane, each in creation order."""
    rows = direct.execute(
        conn, _LANE[restarts_only], {"p_workflow": workflow_id, "p_limit": limit}
    ).all()
    active = tuple(sorted(int(r.id) for r in rows if not r.queued))
    return active, tuple(sorted(int(r.id) for r in rows if r.queued))


def _running_backfills(conn: Connection, workflow_id: str) -> list[tuple[int, int | None]]:
    rows = conn.execute(
        select(B.c.id, B.c.max_concurrency)
        .where(B.c.workflow_id == workflow_id, B.c.status == BackfillStatus.RUNNING)
        .order_by(B.c.id)
    )
    return [(r.id, r.max_concurrency) for r in rows]


def _backfill_lane(conn: Connection, backfill_id: int, limit: int) -> Lane:
    """The backfill's active runs and as many of its queued ones as could start."""
    active = _ids(
        conn,
        R.c.backfill_id == backfill_id,
        R.c.status.in_((RunStatus.RUNNING.value, RunStatus.PAUSED.value)),
    )
    free = max(0, limit - len(active))
    queued = (
        _ids(
            conn,
            R.c.backfill_id == backfill_id,
            status_is(R.c.status, RunStatus.QUEUED),
            limit=free,
        )
        if free
        else ()
    )
    return Lane(active, queued)


def _ids(conn: Connection, *conditions: Any, limit: int | None = None) -> tuple[int, ...]:
    query = select(R.c.id).where(*conditions).order_by(R.c.id)
    if limit is not None:
        query = query.limit(limit)
    return tuple(conn.execute(query).scalars())


def _apply(u: Unit, versions: VersionCache, decision: Decision) -> list[int]:
    """Stop first (last_only frees the slot it gives the new run), then start."""
    for run_id, why in decision.stop:
        run = load_run(u.conn, run_id)
        compiled = versions.get(u.conn, run.workflow_id, run.version)
        RunAdvance(u, run, compiled).end_run(RunStatus.STOPPED, why, action="run_strategy")
    return [run_id for run_id in decision.start if start_run(u, versions, run_id)]
