"""Run strategies: which queued runs of a workflow may start, and which runs the strategy stops.

The decisions are pure functions of data (``decide``, ``decide_backfill``); admission
(``maestro.engine.admission``) reads the rows, asks them and applies the answer. This module
also holds the strategy's consequences at the two other moments they matter:

- a run is created (``refused_at_creation``): under ``first_only`` a run created while another
  one of the workflow is queued, running or paused ends STOPPED at once;
- a run ends (``on_run_ended``, called by ``lifecycle.run_ended``): under
  ``strict_sequential`` a FAILED run blocks the workflow (``workflows.blocked_by_run_id``)
  until a restart of it (following ``runs.restarted_from``) SUCCEEDS or ``unblock`` is called;
  a backfill whose last run ended is DONE.

Lanes: the strategy governs a workflow's *regular* runs (manual, cron, signal, restart).
Backfill runs form one lane per backfill, limited by the backfill's own ``max_concurrency``
(or the strategy's), and are neither counted, stopped nor blocked by the strategy. Child runs
(foreach iterations, subworkflow runs: ``parent_run_id`` set) are started by their parent step
and are outside every lane.

The strategy is the one of the workflow's *active* version.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import Connection, literal_column, select
from sqlalchemy.sql import ColumnElement

from maestro.definition.models import RunStrategy, RunStrategyKind
from maestro.states import BackfillStatus, RunStatus
from maestro.store import tables
from maestro.store import workflows as workflow_rows
from maestro.store.records import RunRow
from maestro.store.transitions import transition
from maestro.store.unit import Unit

W, V, R, B = tables.workflows, tables.workflow_versions, tables.runs, tables.backfills
#: how far ``restarted_from`` is followed (a restart of a restart of …)
MAX_RESTART_CHAIN = 100


def is_open(column: ColumnElement[str]) -> ColumnElement[bool]:
    """``status IN ('QUEUED', 'RUNNING', 'PAUSED')`` exactly as ``ix_runs_open`` says it
    (a planner uses a partial index only when the query repeats its predicate)."""
    return column.in_([literal_column(f"'{s}'") for s in ("QUEUED", "RUNNING", "PAUSED")])


def regular() -> ColumnElement[bool]:
    """Runs the workflow's strategy governs: neither backfill nor child runs."""
    return R.c.backfill_id.is_(None) & R.c.parent_run_id.is_(None)


# -- pure decisions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Lane:
    """The runs one decision is about: active (RUNNING or PAUSED) and queued, oldest first."""

    active: tuple[int, ...] = ()
    queued: tuple[int, ...] = ()


@dataclass(frozen=True)
class Decision:
    """Runs to start, and runs to stop with the reason recorded on them."""

    start: tuple[int, ...] = ()
    stop: tuple[tuple[int, str], ...] = ()


def decide(
    strategy: RunStrategy,
    lane: Lane,
    *,
    blocked_by: int | None = None,
    restarts_of_blocker: Collection[int] = (),
) -> Decision:
    """What the strategy does with the lane now.

    ``blocked_by`` (strict_sequential only): the FAILED run blocking the workflow; then only
    the queued runs in ``restarts_of_blocker`` (restarts of it) may start.
    """
    match strategy.kind:
        case RunStrategyKind.sequential | RunStrategyKind.parallel:
            return _fill(lane, strategy.max_concurrency)
        case RunStrategyKind.strict_sequential:
            if blocked_by is None:
                return _fill(lane, 1)
            allowed = tuple(q for q in lane.queued if q in restarts_of_blocker)
            return _fill(Lane(lane.active, allowed), 1)
        case RunStrategyKind.first_only:
            return _first_only(lane)
        case RunStrategyKind.last_only:
            return _last_only(lane)


def _fill(lane: Lane, limit: int) -> Decision:
    free = max(0, limit - len(lane.active))
    return Decision(start=lane.queued[:free])


def _first_only(lane: Lane) -> Decision:
    if lane.active:
        why = f"first_only: run {lane.active[0]} is active"
        return Decision(stop=tuple((q, why) for q in lane.queued))
    if not lane.queued:
        return Decision()
    first, rest = lane.queued[0], lane.queued[1:]
    why = f"first_only: run {first} is active"
    return Decision(start=(first,), stop=tuple((q, why) for q in rest))


def _last_only(lane: Lane) -> Decision:
    if not lane.queued:
        return Decision()
    last = lane.queued[-1]
    why = f"last_only: superseded by run {last}"
    return Decision(start=(last,), stop=tuple((r, why) for r in (*lane.active, *lane.queued[:-1])))


def decide_backfill(limit: int, lane: Lane) -> Decision:
    """A backfill's runs: up to ``limit`` at once, oldest tick first, whatever the strategy."""
    return _fill(lane, limit)


def restart_chain(conn: Connection, run_id: int) -> list[int]:
    """``run_id``, the run it restarted, the run that one restarted, …"""
    chain = [run_id]
    while len(chain) < MAX_RESTART_CHAIN:
        parent = conn.execute(select(R.c.restarted_from).where(R.c.id == chain[-1])).scalar()
        if parent is None:
            break
        chain.append(int(parent))
    return chain


# -- at creation ------------------------------------------------------------------------------


def refused_at_creation(
    conn: Connection, strategy: RunStrategy, workflow_id: str, run_id: int
) -> str | None:
    """Why the strategy stops the just-created regular run ``run_id`` at once, if it does
    (first_only: another regular run of the workflow is queued, running or paused). The
    caller holds the workflow row's lock."""
    if strategy.kind is not RunStrategyKind.first_only:
        return None
    other = conn.execute(
        select(R.c.id)
        .where(R.c.workflow_id == workflow_id, is_open(R.c.status), R.c.id != run_id, regular())
        .order_by(R.c.id)
        .limit(1)
    ).scalar()
    return f"first_only: run {other} is active" if other is not None else None


# -- when a run ends --------------------------------------------------------------------------


def on_run_ended(u: Unit, run: RunRow, status: RunStatus) -> None:
    """``run`` has just ended with ``status`` in this unit of work."""
    if run.parent_run_id is not None:
        return  # a child run (an iteration, a subworkflow): no backfill, no run strategy
    lane = u.conn.execute(select(R.c.backfill_id, R.c.parent_run_id).where(R.c.id == run.id)).one()
    if lane.backfill_id is not None:
        _finish_backfill_if_done(u, lane.backfill_id)
        return
    if lane.parent_run_id is not None:
        return
    if status is RunStatus.FAILED:
        _block(u, run)
    elif status is RunStatus.SUCCEEDED and run.restarted_from is not None:
        _unblock_by_restart(u, run)


def active_strategy_kind(conn: Connection, workflow_id: str) -> RunStrategyKind:
    """The run strategy of the workflow's active version, read from its stored definition."""
    definition = conn.execute(
        select(V.c.definition)
        .select_from(W.join(V, (V.c.workflow_id == W.c.id) & (V.c.version == W.c.active_version)))
        .where(W.c.id == workflow_id)
    ).scalar()
    strategy = (definition or {}).get("run_strategy") or {}
    return RunStrategyKind(strategy.get("kind", RunStrategyKind.sequential.value))


def _block(u: Unit, run: RunRow) -> None:
    if active_strategy_kind(u.conn, run.workflow_id) is not RunStrategyKind.strict_sequential:
        return
    if workflow_rows.block(u.conn, run.workflow_id, run.id):
        u.add_event(
            run_id=run.id,
            entity="run",
            action="block",
            message="strict_sequential: no new run starts until this one is restarted and "
            "succeeds, or the workflow is unblocked",
        )


def _unblock_by_restart(u: Unit, run: RunRow) -> None:
    assert run.restarted_from is not None
    blocker = u.conn.execute(
        select(W.c.blocked_by_run_id).where(W.c.id == run.workflow_id)
    ).scalar()
    if blocker is None or blocker not in restart_chain(u.conn, run.restarted_from):
        return
    if workflow_rows.unblock(u.conn, run.workflow_id, blocker):
        u.add_event(
            run_id=blocker,
            entity="run",
            action="unblock",
            message=f"its restart, run {run.id}, succeeded",
        )
        u.wake_scheduler = True


def _finish_backfill_if_done(u: Unit, backfill_id: int) -> None:
    unfinished = u.conn.execute(
        select(R.c.id).where(R.c.backfill_id == backfill_id, is_open(R.c.status)).limit(1)
    ).first()
    if unfinished is None:
        message = "every run of it has ended"
        transition(
            u,
            "backfill",
            backfill_id,
            BackfillStatus.DONE,
            BackfillStatus.RUNNING,
            run_id=None,
            message=message,
        )
