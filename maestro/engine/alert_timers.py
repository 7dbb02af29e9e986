"""Alert use cases: fire the timers that are due (a scheduler pass), send a FAILED alert again
(an owner's action).

A timer is a SCHEDULED row (``alerting.arm_*``). When it is due, a scheduler reads its run:
``run_overdue`` fires if the run has not ended, ``deadline_missed`` if it has not SUCCEEDED;
otherwise the row goes. The row is locked while this happens (``SKIP LOCKED`` on PostgreSQL)
and fires at most once, whoever comes first — also after a restart, since the timer is a row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select

from maestro.definition.alerts import AlertEvent
from maestro.engine import alerting
from maestro.engine.core import Engine
from maestro.errors import Conflict, NotFound
from maestro.states import RUN_TERMINAL, AlertStatus, RunStatus
from maestro.store import alerts as alert_rows
from maestro.store import tables
from maestro.store.records import load_run

logger = logging.getLogger(__name__)
AL = tables.alerts


def fire_due(eng: Engine, now: datetime, limit: int = 200) -> int:
    """Scheduler pass: every due timer fires or goes; returns how many fired."""
    with eng.db.read() as conn:
        due = alert_rows.due_timers(conn, now, limit)
    fired = 0
    for alert_id, run_id, event in due:
        try:
            with eng.unit() as u:
                found = alert_rows.timer_key(u.conn, alert_id)
                if found is None:  # another scheduler has it, or it went
                    continue
                key, step_id = found
                run = load_run(u.conn, run_id)
                if event == AlertEvent.run_overdue:
                    holds = run.status not in RUN_TERMINAL
                else:
                    holds = run.status is not RunStatus.SUCCEEDED
                if not holds:
                    alert_rows.drop_timer(u.conn, alert_id)
                    continue
                body = alerting.payload(
                    eng.settings,
                    key=key,
                    event=event,
                    run=run,
                    step_id=step_id,
                    status=run.status.value,
                    error=None,
                    at=u.now,
                )
                until = alerting.retry_until(eng.settings, u.now)
                if alert_rows.fire_timer(u.conn, alert_id, body, u.now, until):
                    fired += 1
                    u.wake_scheduler = True
        except Exception:
            logger.exception("could not fire an alert timer", extra={"alert_id": alert_id})
    return fired


def next_timer(eng: Engine) -> datetime | None:
    with eng.db.read() as conn:
        return alert_rows.next_due(conn, AlertStatus.SCHEDULED)


def retry_alert(eng: Engine, alert_id: int, actor: str, may_act_for: Callable[[str], None]) -> None:
    """Send a FAILED alert again, with a new series of tries. NotFound if there is no such
    alert; ``Conflict`` unless it is FAILED; the caller must act for the workflow's owner."""
    with eng.unit(actor=actor) as u:
        row = u.conn.execute(
            select(AL.c.status, AL.c.workflow_id).where(AL.c.id == alert_id)
        ).first()
        if row is None:
            raise NotFound(f"alert {alert_id} does not exist")
        owner = u.conn.execute(
            select(tables.workflows.c.owner).where(tables.workflows.c.id == row.workflow_id)
        ).scalar()
        may_act_for(owner or "")
        if row.status != AlertStatus.FAILED.value:
            raise Conflict(f"alert {alert_id} is {row.status}: only a FAILED alert is sent again")
        alert_rows.retry(u.conn, alert_id, u.now, alerting.retry_until(eng.settings, u.now))
        u.wake_scheduler = True
