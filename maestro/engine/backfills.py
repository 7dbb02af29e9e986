"""Backfills: one run per tick of the workflow's cron trigger over a range of logical dates.

``create_backfill`` creates every run at once, QUEUED, with ``trigger: backfill``, the tick as
``logical_date`` and the cron trigger's ``params`` rendered for that tick, overridden by the
backfill's own ``params`` (the same for every tick). The backfill is a
lane of its own (see ``strategies``): at most ``max_concurrency`` of its runs at once (the
run strategy's ``max_concurrency`` when not given: 1 unless the strategy is parallel), oldest
tick first, neither waiting for nor stopping the workflow's other runs. It is DONE when its
last run ends; cancelling it stops the runs that have not started (running ones finish).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select

from maestro.definition.models import CronTrigger
from maestro.engine.admission import admit_workflow
from maestro.engine.advance import RunAdvance
from maestro.engine.core import Engine
from maestro.engine.cron import CronSchedule
from maestro.engine.runs import create_run
from maestro.engine.triggers import render_trigger_params
from maestro.errors import Conflict, InvalidRequest, NotFound
from maestro.reads.backfills import progress_of
from maestro.reads.workflows import unknown_workflow
from maestro.states import BackfillStatus, RunStatus
from maestro.store import backfills as backfill_rows
from maestro.store import tables
from maestro.store.records import load_run
from maestro.store.tables import status_is
from maestro.store.transitions import created, transition
from maestro.wording import plural

W, R, B = tables.workflows, tables.runs, tables.backfills
#: runs one backfill may create
MAX_BACKFILL_RUNS = 10_000
MAX_CONCURRENCY = 1000


def create_backfill(
    eng: Engine,
    workflow_id: str,
    start: datetime,
    end: datetime,
    max_concurrency: int | None = None,
    actor: str = "system",
    params: Mapping[str, Any] | None = None,
) -> tuple[int, list[int]]:
    """One QUEUED run per tick of the workflow's first cron trigger in ``[start, end]``
    (naive datetimes are UTC); returns the backfill's id and its run ids, oldest tick first.

    NotFound: no such workflow. Conflict: no cron trigger. InvalidRequest: an empty or
    reversed range, more than ``MAX_BACKFILL_RUNS`` ticks, a ``max_concurrency`` outside
    1..1000. ``params``
    override the trigger's for every run (definition defaults → trigger params → these). A
    param that does not render, coerce or exist raises ``ParamError``, and nothing is created.
    """
    start, end = _aware(start), _aware(end)
    _check_request(start, end, max_concurrency)
    with eng.unit(actor=actor) as u:
        active = u.conn.execute(
            select(W.c.active_version).where(W.c.id == workflow_id).with_for_update()
        ).scalar()
        if active is None:
            raise unknown_workflow(u.conn, workflow_id)
        trigger = _cron_trigger(eng.versions.get(u.conn, workflow_id, active).definition.triggers)
        if trigger is None:
            raise Conflict(
                f"workflow {workflow_id!r} has no cron trigger in its active version "
                f"{active}: a backfill replays the ticks of one"
            )
        ticks = CronSchedule(trigger.cron, trigger.timezone).in_range(
            start, end, MAX_BACKFILL_RUNS + 1
        )
        _check_ticks(ticks, trigger, start, end)
        backfill_id = backfill_rows.insert_backfill(
            u.conn,
            workflow_id=workflow_id,
            start_at=start,
            end_at=end,
            max_concurrency=max_concurrency,
            status=BackfillStatus.RUNNING,
            created_at=u.now,
            created_by=actor,
        )
        first, last = f"{start:%Y-%m-%d %H:%M}", f"{end:%Y-%m-%d %H:%M}"
        span = f"{plural(len(ticks), 'tick')} of {trigger.cron!r} in [{first}, {last}]"
        created(u, "backfill", backfill_id, BackfillStatus.RUNNING, run_id=None, message=span)
        run_ids = [
            create_run(
                u,
                eng.versions,
                workflow_id,
                trigger_params=render_trigger_params(
                    u, workflow_id, trigger.params, "backfill", tick
                ),
                params=params,
                trigger="backfill",
                logical_date=tick,
                backfill_id=backfill_id,
            )
            for tick in ticks
        ]
        admit_workflow(u, eng.versions, workflow_id)
        return backfill_id, run_ids


def backfill_progress(
    conn: Connection, backfill_id: int, workflow_id: str | None = None
) -> dict[str, Any]:
    """``{status, total, done, succeeded, failed, stopped, running, queued}``: ``done`` counts
    every run that ended (succeeded, failed — FAILED or TIMED_OUT — or stopped); ``running``
    includes paused runs. With ``workflow_id``: NotFound unless the backfill is that one's."""
    row = conn.execute(select(B.c.status, B.c.workflow_id).where(B.c.id == backfill_id)).first()
    if row is None or (workflow_id is not None and row.workflow_id != workflow_id):
        where = f"workflow {workflow_id!r} has no" if workflow_id else "no such"
        raise NotFound(f"{where} backfill {backfill_id}")
    progress = progress_of(conn, [backfill_id])[backfill_id]
    return {
        "status": row.status,
        "total": progress.total,
        "done": progress.done,
        "succeeded": progress.succeeded,
        "failed": progress.failed,
        "stopped": progress.stopped,
        "running": progress.running,
        "queued": progress.queued,
    }


def cancel_backfill(eng: Engine, backfill_id: int, actor: str) -> list[int]:
    """CANCELLED: its QUEUED runs are STOPPED (returned), its running runs finish.
    Conflict when it is already DONE or CANCELLED."""
    with eng.unit(actor=actor) as u:
        workflow_id = u.conn.execute(select(B.c.workflow_id).where(B.c.id == backfill_id)).scalar()
        if workflow_id is None:
            raise NotFound(f"backfill {backfill_id} does not exist")
        # the workflow first, as admission does: no queued run of it starts meanwhile
        u.conn.execute(select(W.c.id).where(W.c.id == workflow_id).with_for_update())
        status = u.conn.execute(
            select(B.c.status).where(B.c.id == backfill_id).with_for_update()
        ).scalar()
        if status != BackfillStatus.RUNNING:
            raise Conflict(
                f"backfill {backfill_id} is {status}: only a RUNNING one can be cancelled"
            )
        transition(
            u,
            "backfill",
            backfill_id,
            BackfillStatus.CANCELLED,
            BackfillStatus.RUNNING,
            run_id=None,
            action="cancel",
        )
        queued = list(
            u.conn.execute(
                select(R.c.id)
                .where(R.c.backfill_id == backfill_id, status_is(R.c.status, RunStatus.QUEUED))
                .order_by(R.c.id)
            ).scalars()
        )
        for run_id in queued:
            run = load_run(u.conn, run_id)
            compiled = eng.versions.get(u.conn, run.workflow_id, run.version)
            RunAdvance(u, run, compiled).end_run(
                RunStatus.STOPPED, f"backfill {backfill_id} cancelled by {actor}", action="cancel"
            )
        return queued


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _check_request(start: datetime, end: datetime, max_concurrency: int | None) -> None:
    """A request's own values that make no backfill: invalid (422), not a conflict with the
    workflow's state (409)."""
    if end < start:
        raise InvalidRequest(f"backfill range ends ({end.isoformat()}) before it starts")
    if max_concurrency is not None and not 1 <= max_concurrency <= MAX_CONCURRENCY:
        raise InvalidRequest(f"max_concurrency must be between 1 and {MAX_CONCURRENCY}")


def _cron_trigger(triggers: list[Any]) -> CronTrigger | None:
    return next((t for t in triggers if isinstance(t, CronTrigger)), None)


def _check_ticks(
    ticks: list[datetime], trigger: CronTrigger, start: datetime, end: datetime
) -> None:
    where = f"{trigger.cron!r} ({trigger.timezone})"
    if not ticks:
        raise InvalidRequest(
            f"no tick of {where} between {start.isoformat()} and {end.isoformat()}"
        )
    if len(ticks) > MAX_BACKFILL_RUNS:
        raise InvalidRequest(
            f"{where} ticks more than {MAX_BACKFILL_RUNS} times between {start.isoformat()} "
            f"and {end.isoformat()}: split the backfill"
        )
