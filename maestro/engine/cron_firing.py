"""Firing cron triggers: the scheduler calls ``fire_due`` on every pass.

One unit of work per trigger: the workflow row is locked first (the same order as every other
writer of a workflow: submit, activation, run creation, admission), then the trigger row is
claimed with ``FOR UPDATE SKIP LOCKED`` and ``next_fire_at`` is moved by a conditional UPDATE
(``WHERE next_fire_at = <the value read>``), in the same transaction that creates the runs: two
schedulers never fire one tick twice. ``catchup: false`` fires only the latest tick missed,
``catchup: true`` every missed tick, oldest first (at most ``MAX_TICKS_PER_FIRING`` per pass;
the next pass continues). A paused workflow's ticks are skipped: ``next_fire_at`` moves on and
no run is created.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select

from maestro.definition.models import CronTrigger
from maestro.engine.admission import admit_workflow
from maestro.engine.core import Engine
from maestro.engine.cron import FirePlan, cron_schedule, plan_firing
from maestro.engine.runs import create_run
from maestro.engine.triggers import CRON, render_trigger_params
from maestro.errors import ExpressionError, ParamError
from maestro.store import tables
from maestro.store import triggers as trigger_rows
from maestro.store.unit import Unit

logger = logging.getLogger(__name__)
T, W = tables.triggers, tables.workflows


def fire_due(eng: Engine, now: datetime | None = None, limit: int | None = None) -> list[int]:
    """Fire every cron trigger due at ``now``, each in its own unit of work; returns the ids
    of the runs created. A trigger that cannot be fired is logged and skipped."""
    now = now or eng.clock.now()
    due = (
        select(T.c.id)
        .where(T.c.kind == CRON, T.c.next_fire_at <= now)
        .order_by(T.c.next_fire_at)
        .limit(limit or eng.settings.batch_size)
    )
    with eng.db.read() as conn:
        trigger_ids = list(conn.execute(due).scalars())
    created: list[int] = []
    for trigger_id in trigger_ids:
        try:
            created.extend(_fire_one(eng, trigger_id, now))
        except Exception:
            logger.exception("could not fire cron trigger", extra={"trigger_id": trigger_id})
    return created


def _fire_one(eng: Engine, trigger_id: int, now: datetime) -> list[int]:
    with eng.unit(actor="cron") as u:
        workflow_id = u.conn.execute(select(T.c.workflow_id).where(T.c.id == trigger_id)).scalar()
        if workflow_id is None:
            return []
        wf = u.conn.execute(
            select(W.c.paused).where(W.c.id == workflow_id).with_for_update()
        ).first()
        row = u.conn.execute(
            select(T.c.spec, T.c.next_fire_at)
            .where(T.c.id == trigger_id, T.c.kind == CRON, T.c.next_fire_at <= now)
            .with_for_update(skip_locked=True)
        ).first()
        if wf is None or row is None:
            return []  # fired by another scheduler meanwhile, or replaced by a new version
        trigger = CronTrigger.model_validate(row.spec)
        plan = plan_firing(
            cron_schedule(row.spec),
            catchup=trigger.catchup,
            due_at=row.next_fire_at,
            now=now,
            paused=wf.paused,
        )
        if not _advance(u, trigger_id, row.next_fire_at, plan):
            return []
        if wf.paused:
            logger.info("workflow %s is paused: cron tick skipped", workflow_id)
        created = [
            run_id
            for tick in plan.ticks
            if (run_id := _start_for_tick(u, eng, workflow_id, trigger, tick)) is not None
        ]
        if created:
            admit_workflow(u, eng.versions, workflow_id)
        return created


def _advance(u: Unit, trigger_id: int, due_at: datetime, plan: FirePlan) -> bool:
    """Move ``next_fire_at`` on, only if nobody moved it since it was read."""
    last = plan.ticks[-1] if plan.ticks else None
    return trigger_rows.fired(u.conn, trigger_id, due_at, plan.next_fire_at, last)


def _start_for_tick(
    u: Unit, eng: Engine, workflow_id: str, trigger: CronTrigger, tick: datetime
) -> int | None:
    try:
        params = render_trigger_params(u, workflow_id, trigger.params, "cron", tick)
        return create_run(
            u,
            eng.versions,
            workflow_id,
            trigger_params=params,
            trigger="cron",
            logical_date=tick,
        )
    except (ExpressionError, ParamError) as exc:
        logger.error("cron tick %s of %s starts no run: %s", tick, workflow_id, exc.message)
        return None
