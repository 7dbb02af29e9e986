"""Alerts, written in the unit of work of the status change that causes them (an outbox).

``record`` runs last in every unit (``Engine.unit``, after the follow-ups): it reads the unit's
status changes of runs and steps and adds one alert row per matching rule, so an alert commits
with its cause or not at all. The timers are armed where the run is in hand: ``arm_deadlines``
when a run is created (``deadline_missed``, from the logical date) and ``arm_overdue`` when it
starts (``run_overdue``, from the start); a run's end drops the timers it made moot, and the
scheduler fires the others (``alert_timers``). A unique ``dedupe`` per cause makes a cause
recorded twice one alert. Rows are only written; sending is the alert sender's
(``maestro.alerts``), after commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from maestro.definition import WorkflowDefinition
from maestro.definition.alerts import AlertEvent, AlertRule
from maestro.engine.compiled import CompiledWorkflow, VersionCache
from maestro.settings import Settings
from maestro.states import AlertStatus, RunStatus, StepStatus
from maestro.store import alerts as alert_rows
from maestro.store.records import RunRow, load_run, load_step
from maestro.store.unit import Unit

RUN_EVENTS = {
    RunStatus.SUCCEEDED.value: AlertEvent.run_succeeded,
    RunStatus.FAILED.value: AlertEvent.run_failed,
    RunStatus.STOPPED.value: AlertEvent.run_stopped,
    RunStatus.TIMED_OUT.value: AlertEvent.run_timed_out,
}
#: a step's change that is an event of its own; a change with an action (a run that ended,
#: a user's stop) is a consequence of something else and alerts as that
STEP_EVENTS = {
    StepStatus.FAILED.value: AlertEvent.step_failed,
    StepStatus.RETRYING.value: AlertEvent.step_retried,
    StepStatus.TIMED_OUT.value: AlertEvent.step_timed_out,
}
#: the action of a step that timed out waiting for signals (``signals.time_out_waits``)
SIGNAL_TIMEOUT = "signal_timeout"


def record(u: Unit, versions: VersionCache, settings: Settings) -> None:
    """Add the alerts the unit's status changes call for."""
    if not u.changes:
        return
    changes, u.changes = u.changes, []
    rows: list[dict[str, Any]] = []
    for change in changes:
        if change["entity"] == "run":
            event = RUN_EVENTS.get(change["to_status"])
            if event is not None:
                rows.extend(_run_ended(u, versions, settings, change, event))
        elif change["entity"] == "step" and change["action"] in (None, SIGNAL_TIMEOUT):
            event = STEP_EVENTS.get(change["to_status"])
            if change["action"] == SIGNAL_TIMEOUT:
                event = AlertEvent.signal_wait_timed_out
            if event is not None:
                rows.extend(_step_event(u, versions, settings, change, event))
    if rows:
        alert_rows.add(u.conn, rows)
        u.wake_scheduler = True  # the sender runs with the schedulers: send it now


def arm_deadlines(
    u: Unit, definition: WorkflowDefinition, run_id: int, workflow_id: str, logical: datetime
) -> None:
    """A new run: a timer for each deadline_missed rule, unless the deadline has passed
    already (a backfill of old dates cannot make it; it is not told it missed it)."""
    rows = [
        _timer(u, workflow_id, run_id, rule, index, AlertEvent.deadline_missed, due)
        for index, rule in _rules(definition, AlertEvent.deadline_missed)
        if rule.deadline is not None and (due := logical + rule.deadline) > u.now
    ]
    if rows:
        alert_rows.add(u.conn, rows)
        u.wake_scheduler = True


def arm_overdue(u: Unit, definition: WorkflowDefinition, run_id: int, workflow_id: str) -> None:
    """A run started: a timer for each run_overdue rule, ``after`` from now."""
    rows = [
        _timer(u, workflow_id, run_id, rule, index, AlertEvent.run_overdue, u.now + rule.after)
        for index, rule in _rules(definition, AlertEvent.run_overdue)
        if rule.after is not None
    ]
    if rows:
        alert_rows.add(u.conn, rows)
        u.wake_scheduler = True


def payload(
    settings: Settings,
    *,
    key: str,
    event: str,
    run: RunRow,
    step_id: str | None,
    status: str,
    error: str | None,
    at: datetime,
) -> dict[str, Any]:
    """What every channel sends (spec/alerts.md, "Payload")."""
    url = f"{settings.web_url}/runs/{run.id}"
    return {
        "id": key,
        "event": event,
        "workflow_id": run.workflow_id,
        "run_id": run.id,
        "run_number": run.number,
        "step_id": step_id,
        "status": status,
        "error": error,
        "logical_date": _iso(run.logical_date),
        "at": _iso(at),
        "url": f"{url}/steps/{step_id}" if step_id else url,
    }


def retry_until(settings: Settings, now: datetime) -> datetime:
    return now + timedelta(seconds=settings.alert_give_up_after)


# -- internals ------------------------------------------------------------------------------


def _run_ended(
    u: Unit,
    versions: VersionCache,
    settings: Settings,
    change: dict[str, Any],
    event: AlertEvent,
) -> Iterator[dict[str, Any]]:
    run, compiled = _run(u, versions, change["run_id"])
    definition = compiled.definition
    moot = [AlertEvent.run_overdue.value]
    if event is AlertEvent.run_succeeded:
        moot.append(AlertEvent.deadline_missed.value)
    if any(rule.after or rule.deadline for rule in definition.alerts):
        alert_rows.cancel_timers(u.conn, run.id, moot)
    for index, rule in _rules(definition, event):
        yield _row(
            u,
            settings,
            run,
            rule,
            f"run:{run.id}:{event}:w{index}",
            event,
            index,
            step_id=None,
            status=change["to_status"],
            error=change["message"],
        )


def _step_event(
    u: Unit,
    versions: VersionCache,
    settings: Settings,
    change: dict[str, Any],
    event: AlertEvent,
) -> Iterator[dict[str, Any]]:
    run, compiled = _run(u, versions, change["run_id"])
    rules = _rules(compiled.definition, event)  # the workflow's, for every step of its DAG
    step = load_step(u.conn, change["step_run_id"])
    spec = compiled.steps.get(step.step_id)
    own = [(i, r) for i, r in enumerate(spec.alerts) if event in r.on] if spec else []
    for level, matching in (("w", rules), ("s", own)):
        for index, rule in matching:
            yield _row(
                u,
                settings,
                run,
                rule,
                f"step:{step.id}:{step.attempts}:{event}:{level}{index}",
                event,
                index,
                step_id=step.step_id,
                status=change["to_status"],
                error=change["message"],
                level="workflow" if level == "w" else "step",
            )


def _run(u: Unit, versions: VersionCache, run_id: int) -> tuple[RunRow, CompiledWorkflow]:
    found = u.runs.get(run_id)
    if found is None:
        run = load_run(u.conn, run_id)
        found = (run, versions.for_run(u.conn, run.workflow_id, run.version, run.body))
        u.runs[run_id] = found
    return found


def _rules(definition: WorkflowDefinition, event: AlertEvent) -> list[tuple[int, AlertRule]]:
    return [(i, rule) for i, rule in enumerate(definition.alerts) if event in rule.on]


def _row(
    u: Unit,
    settings: Settings,
    run: RunRow,
    rule: AlertRule,
    dedupe: str,
    event: AlertEvent,
    index: int,
    *,
    step_id: str | None,
    status: str,
    error: str | None,
    level: str = "workflow",
) -> dict[str, Any]:
    key = str(uuid.uuid4())
    body = payload(
        settings,
        key=key,
        event=event.value,
        run=run,
        step_id=step_id,
        status=status,
        error=error,
        at=u.now,
    )
    return {
        **_common(u, run.workflow_id, run.id, rule, index, event, key, dedupe, level),
        "step_id": step_id,
        "payload": body,
        "status": AlertStatus.PENDING.value,
        "due_at": u.now,
        "retry_until": retry_until(settings, u.now),
    }


def _timer(
    u: Unit,
    workflow_id: str,
    run_id: int,
    rule: AlertRule,
    index: int,
    event: AlertEvent,
    due: datetime,
) -> dict[str, Any]:
    key = str(uuid.uuid4())
    return {
        **_common(
            u, workflow_id, run_id, rule, index, event, key, f"run:{run_id}:{event}:w{index}"
        ),
        "step_id": None,
        "payload": None,
        "status": AlertStatus.SCHEDULED.value,
        "due_at": due,
        "retry_until": None,
    }


def _common(
    u: Unit,
    workflow_id: str,
    run_id: int,
    rule: AlertRule,
    index: int,
    event: AlertEvent,
    key: str,
    dedupe: str,
    level: str = "workflow",
) -> dict[str, Any]:
    return {
        "key": key,
        "dedupe": dedupe,
        "workflow_id": workflow_id,
        "run_id": run_id,
        "event": event.value,
        "channel": rule.channel,
        "rule": {
            "level": level,
            "index": index,
            **rule.model_dump(mode="json", by_alias=True, exclude_none=True),
        },
        "attempts": 0,
        "last_error": None,
        "created_at": u.now,
        "updated_at": u.now,
        "delivered_at": None,
    }


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
