"""Cron and signal triggers: when a workflow starts a run by itself.

The ``triggers`` rows mirror the *active* version's ``triggers`` list (``sync_triggers`` is
called whenever the active version changes). A cron row carries ``next_fire_at``, indexed
(``ix_triggers_due``); the scheduler fires due ones (``maestro.engine.cron_firing``; the
arithmetic of ticks: ``maestro.engine.cron``). A signal trigger starts a run when a signal it
fits is applied (``start_runs_for_signal``, from ``maestro.engine.signal_apply``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, literal_column, select
from sqlalchemy.sql import ColumnElement

from maestro import expressions
from maestro.definition import WorkflowDefinition
from maestro.definition.models import CronTrigger, SignalTrigger
from maestro.engine.admission import admit_workflow
from maestro.engine.compiled import VersionCache
from maestro.engine.cron import CronSchedule, cron_schedule
from maestro.engine.matching import payload_matches
from maestro.engine.runs import create_run
from maestro.errors import ExpressionError, ParamError
from maestro.store import tables
from maestro.store import triggers as trigger_rows
from maestro.store.unit import Unit

logger = logging.getLogger(__name__)
T, W, R = tables.triggers, tables.workflows, tables.runs

#: inlined, not bound: the planners then match ix_triggers_due
CRON: ColumnElement[str] = literal_column("'cron'")
_SIGNAL: ColumnElement[str] = literal_column("'signal'")


# -- keeping the rows in step with the active version -----------------------------------------


def sync_triggers(u: Unit, workflow_id: str, definition: WorkflowDefinition) -> None:
    """Make the workflow's ``triggers`` rows those of ``definition`` (its new active version).

    The caller holds the workflow row's lock. A cron trigger whose expression and time zone
    were already there keeps its ``next_fire_at`` (activating a version with the same
    schedule neither skips nor repeats a tick); a new one is due at its next tick after now.
    """
    kept = {
        (r.spec.get("cron"), r.spec.get("timezone")): (r.next_fire_at, r.last_fired_at)
        for r in u.conn.execute(
            select(T.c.spec, T.c.next_fire_at, T.c.last_fired_at)
            .where(T.c.workflow_id == workflow_id)
            .with_for_update()
        )
        if r.spec.get("cron")
    }
    rows = []
    for position, trigger in enumerate(definition.triggers):
        spec = trigger.model_dump(mode="json")
        next_fire_at = last_fired_at = None
        if isinstance(trigger, CronTrigger):
            key = (trigger.cron, trigger.timezone)
            schedule = CronSchedule(trigger.cron, trigger.timezone)
            next_fire_at, last_fired_at = kept.get(key) or (schedule.next_after(u.now), None)
        kind = "cron" if isinstance(trigger, CronTrigger) else "signal"
        rows.append(
            {
                "workflow_id": workflow_id,
                "position": position,
                "kind": kind,
                "spec": spec,
                "next_fire_at": next_fire_at,
                "last_fired_at": last_fired_at,
            }
        )
    trigger_rows.replace(u.conn, workflow_id, rows)
    if rows:
        u.wake_scheduler = True  # a new timer


def reschedule_cron(u: Unit, workflow_id: str) -> None:
    """Every cron trigger of the workflow is next due at its first tick after now (resume:
    the ticks that fell while the workflow was paused are skipped, catchup or not)."""
    rows = u.conn.execute(
        select(T.c.id, T.c.spec).where(T.c.workflow_id == workflow_id, T.c.kind == CRON)
    ).all()
    for row in rows:
        next_fire_at = cron_schedule(row.spec).next_after(u.now)
        trigger_rows.set_next_fire_at(u.conn, row.id, next_fire_at)
    if rows:
        u.wake_scheduler = True


def earliest_fire_at(conn: Connection) -> datetime | None:
    """When the next cron trigger is due (the scheduler sleeps no longer than that)."""
    value = conn.execute(select(func.min(T.c.next_fire_at)).where(T.c.kind == CRON)).scalar()
    return value if isinstance(value, datetime) else None


def render_trigger_params(
    u: Unit,
    workflow_id: str,
    params: Mapping[str, Any],
    trigger: str,
    logical_date: datetime,
    signal: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A trigger's ``params`` rendered with ``run`` (the run about to be created) and
    ``signal`` (the payload, or an empty map) in scope."""
    wf = u.conn.execute(
        select(W.c.active_version, W.c.run_counter).where(W.c.id == workflow_id)
    ).one()
    scope = {
        "run": {
            "id": None,
            "number": wf.run_counter + 1,
            "workflow_id": workflow_id,
            "version": wf.active_version,
            "trigger": trigger,
            "logical_date": logical_date,
            "started_at": u.now,
        },
        "params": {},
        "steps": {},
        "signal": dict(signal or {}),
    }
    rendered: dict[str, Any] = expressions.render(dict(params), scope)
    return rendered


# -- signal triggers --------------------------------------------------------------------------


def matching_triggers(
    rows: Sequence[tuple[str, Mapping[str, Any]]], name: str, payload: Mapping[str, Any]
) -> list[tuple[str, SignalTrigger]]:
    """The first signal trigger of each workflow (rows in position order) that ``name`` and
    ``payload`` fit: one signal starts at most one run per workflow."""
    chosen: dict[str, SignalTrigger] = {}
    for workflow_id, spec in rows:
        if workflow_id in chosen or spec.get("signal") != name:
            continue
        trigger = SignalTrigger.model_validate(spec)
        if payload_matches(trigger.match, payload):
            chosen[workflow_id] = trigger
    return list(chosen.items())


def may_trigger(sender_owners: Sequence[str] | None, owner: str, trigger: SignalTrigger) -> bool:
    """Whether a signal sent for ``sender_owners`` (None: every owner) may start a workflow of
    ``owner`` through ``trigger``: its own owner's signals, or those its ``from`` lists."""
    if sender_owners is None or owner in sender_owners or "*" in trigger.from_:
        return True
    return any(o in trigger.from_ for o in sender_owners)


def start_runs_for_signal(
    u: Unit,
    versions: VersionCache,
    signal_id: int,
    name: str,
    payload: Mapping[str, Any],
    sender_owners: Sequence[str] | None = None,
) -> list[int]:
    """Start a run of every workflow (not paused) whose active version has a signal trigger
    that this signal fits and that the sender may start (``may_trigger``); returns the run
    ids, in workflow id order.

    Exactly once per signal and workflow: the run carries the idempotency key
    ``signal:<signal_id>``, so applying the same signal again returns the same runs.
    A trigger whose params cannot be rendered from the payload is logged and starts nothing.
    """
    rows = u.conn.execute(
        select(T.c.workflow_id, T.c.spec, W.c.owner)
        .select_from(T.join(W, W.c.id == T.c.workflow_id))
        .where(T.c.kind == _SIGNAL, W.c.paused.is_(False))
        .order_by(T.c.workflow_id, T.c.position)
    ).all()
    owners = {r.workflow_id: r.owner for r in rows}
    key = f"signal:{signal_id}"
    started: list[int] = []
    for workflow_id, trigger in matching_triggers(
        [(r.workflow_id, r.spec) for r in rows], name, payload
    ):
        if not may_trigger(sender_owners, owners[workflow_id], trigger):
            logger.info(
                "signal %r from owners %s may not start workflow %r (owner %r): not in `from`",
                name,
                sender_owners,
                workflow_id,
                owners[workflow_id],
            )
            continue
        existing = u.conn.execute(
            select(R.c.id).where(R.c.workflow_id == workflow_id, R.c.idempotency_key == key)
        ).scalar()
        run_id = existing or _start_for_signal(u, versions, workflow_id, trigger, key, payload)
        if run_id is not None:
            started.append(run_id)
    return started


def _start_for_signal(
    u: Unit,
    versions: VersionCache,
    workflow_id: str,
    trigger: SignalTrigger,
    key: str,
    payload: Mapping[str, Any],
) -> int | None:
    try:
        params = render_trigger_params(u, workflow_id, trigger.params, "signal", u.now, payload)
        run_id = create_run(
            u,
            versions,
            workflow_id,
            trigger_params=params,
            trigger="signal",
            idempotency_key=key,
            signal=payload,
        )
    except (ExpressionError, ParamError) as exc:
        logger.error("signal %r starts no run of %s: %s", trigger.signal, workflow_id, exc.message)
        return None
    admit_workflow(u, versions, workflow_id)
    return run_id
