"""Alerts: the outbox rows as the API, the web view and the CLI list them, and the alert
rules of a definition (a workflow's active version, as ``workflow_detail`` reads it).

Listing is newest first by keyset on ``alerts.id``, through ``ix_alerts_run``,
``ix_alerts_workflow`` or ``ix_alerts_status`` (each ``(…, id)``) when filtered, the primary
key otherwise. Nothing here resolves a connection: a rule names its connection and a read
shows that name, never where it points (spec/alerts.md: secrets never reach the API or the web
view). A webhook's URL is shown without its user, password or query values.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, Select, select

from maestro.errors import NotFound
from maestro.reads.paging import Page, clamp_limit, int_cursor, page_of
from maestro.states import AlertStatus
from maestro.store import tables

AL, R = tables.alerts, tables.runs

MASK = "***"
#: the longest target shown (a long recipient list is cut, with how many were left out)
MAX_TARGET = 200
#: recipients of an email named in a target before "and N more"
SHOWN_RECIPIENTS = 3
#: the statuses whose ``due_at`` means something: a timer's time, a try's earliest start
_DUE = frozenset({AlertStatus.SCHEDULED, AlertStatus.PENDING})
_SPACES = re.compile(r"\s+")


# -- alerts --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertView:
    id: int
    #: the alert's id in its payload and the ``Idempotency-Key`` of its requests
    key: str
    workflow_id: str
    run_id: int
    run_number: int
    step_id: str | None
    event: str
    #: webhook, slack, email or python
    channel: str
    #: where it goes, in one line without secrets ("slack via connection team_slack")
    target: str
    #: the rule's place: ``workflow`` (``alerts:`` of the workflow) or ``step``
    level: str
    status: AlertStatus
    attempts: int
    last_error: str | None
    #: SCHEDULED: when the timer fires; PENDING: the next try, not before; else None
    due_at: datetime | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None


_COLUMNS = (
    AL.c.id,
    AL.c.key,
    AL.c.workflow_id,
    AL.c.run_id,
    R.c.number.label("run_number"),
    AL.c.step_id,
    AL.c.event,
    AL.c.channel,
    AL.c.rule,
    AL.c.status,
    AL.c.attempts,
    AL.c.last_error,
    AL.c.due_at,
    AL.c.created_at,
    AL.c.updated_at,
    AL.c.delivered_at,
)


def _alert(row: Any) -> AlertView:
    rule: Mapping[str, Any] = row.rule or {}
    status = AlertStatus(row.status)
    return AlertView(
        id=row.id,
        key=row.key,
        workflow_id=row.workflow_id,
        run_id=row.run_id,
        run_number=row.run_number,
        step_id=row.step_id,
        event=row.event,
        channel=row.channel,
        target=describe_target(row.channel, rule.get(row.channel)),
        level=str(rule.get("level") or "workflow"),
        status=status,
        attempts=row.attempts,
        last_error=row.last_error,
        due_at=row.due_at if status in _DUE else None,
        created_at=row.created_at,
        updated_at=row.updated_at,
        delivered_at=row.delivered_at,
    )


def _select() -> Select[Any]:
    # every alert has its run (ON DELETE CASCADE): the join is one primary-key probe per row
    return select(*_COLUMNS).select_from(AL.join(R, R.c.id == AL.c.run_id))


def list_alerts(
    conn: Connection,
    *,
    workflow_id: str | None = None,
    run_id: int | None = None,
    status: AlertStatus | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[AlertView]:
    """Alerts, newest first; filters combine (an unknown workflow or run has none). One status
    at a time: each filter is an index's leading column, read backwards from the cursor
    (several statuses would sort every row they match)."""
    limit = clamp_limit(limit)
    query = _select().order_by(AL.c.id.desc()).limit(limit + 1)
    before = int_cursor(cursor)
    if before is not None:
        query = query.where(AL.c.id < before)
    if workflow_id is not None:
        query = query.where(AL.c.workflow_id == workflow_id)
    if run_id is not None:
        query = query.where(AL.c.run_id == run_id)
    if status is not None:
        query = query.where(AL.c.status == status.value)
    return page_of(conn.execute(query).all(), limit, _alert, "id")


def alert(conn: Connection, alert_id: int) -> AlertView:
    row = conn.execute(_select().where(AL.c.id == alert_id)).first()
    if row is None:
        raise NotFound(f"alert {alert_id} does not exist")
    return _alert(row)


# -- rules ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertRuleView:
    #: ``workflow`` (the workflow's ``alerts:``) or ``step`` (a step's own)
    level: str
    #: the step whose rule it is (level ``step``)
    step_id: str | None
    #: the foreach step whose body holds that step, if any
    foreach_step: str | None
    #: its position in its ``alerts:`` list
    index: int
    events: list[str]
    #: run_overdue: the time a run may take from its start (``2h``)
    after: str | None
    #: deadline_missed: counted from the run's logical date (``6h``)
    deadline: str | None
    channel: str
    target: str


def alert_rules(definition: Mapping[str, Any]) -> list[AlertRuleView]:
    """The rules of a stored (normalized) definition: the workflow's, then each step's in
    definition order, foreach bodies included."""
    found = [_rule(rule, i, None, None) for i, rule in enumerate(_list(definition.get("alerts")))]
    found.extend(_step_rules(_list(definition.get("steps")), None))
    return found


def _step_rules(steps: list[Any], foreach_step: str | None) -> Iterator[AlertRuleView]:
    for step in steps:
        if not isinstance(step, Mapping):
            continue
        step_id = str(step.get("id", ""))
        for i, rule in enumerate(_list(step.get("alerts"))):
            yield _rule(rule, i, step_id, foreach_step)
        body = step.get("foreach")
        if isinstance(body, Mapping):
            yield from _step_rules(_list(body.get("steps")), step_id)


def _rule(rule: Any, index: int, step_id: str | None, foreach_step: str | None) -> AlertRuleView:
    rule = rule if isinstance(rule, Mapping) else {}
    channel = next((c for c in CHANNELS if rule.get(c)), "")
    on = rule.get("on")
    return AlertRuleView(
        level="workflow" if step_id is None else "step",
        step_id=step_id,
        foreach_step=foreach_step,
        index=index,
        events=[str(e) for e in (on if isinstance(on, list) else [on] if on else [])],
        after=_text(rule.get("after")),
        deadline=_text(rule.get("deadline")),
        channel=channel,
        target=describe_target(channel, rule.get(channel)),
    )


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


# -- where an alert goes, without secrets ----------------------------------------------------

#: the channels, as a rule names them (``maestro.definition.alerts.CHANNELS``)
CHANNELS = ("webhook", "slack", "email", "python")


def describe_target(channel: str, settings: Any) -> str:
    """One line saying where a channel sends, from the rule as written: a webhook's method and
    URL (user, password and query values masked, headers never shown), a Slack or email
    channel's connection *name* (its URL is the secret), an email's recipients, a callable."""
    s: Mapping[str, Any] = settings if isinstance(settings, Mapping) else {}
    if channel == "webhook":
        text = f"{s.get('method') or 'POST'} {masked_url(str(s.get('url') or ''))}"
    elif channel == "slack":
        text = f"slack via connection {s.get('connection', '?')}"
        if s.get("channel"):
            text += f" to {s['channel']}"
    elif channel == "email":
        text = f"email to {_recipients(s.get('to'))} via connection {s.get('connection', '?')}"
    elif channel == "python":
        text = f"python {s.get('callable', '?')}"
    else:
        text = channel or "no channel"
    return _one_line(text)


def masked_url(url: str) -> str:
    """``url`` with its user and password as ``***`` and every query value as ``***`` (a
    token often rides there); no fragment. Templates (``{{ … }}``) are kept as written."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<a URL that cannot be shown>"
    _, at, host = parts.netloc.rpartition("@")
    shown = f"{parts.scheme}://" if parts.scheme else ""
    shown += (f"{MASK}@" if at else "") + host + parts.path
    if parts.query:
        # a name keeps its place, a value never shows; a bare ``?abc`` may be a token itself
        pairs = (p.partition("=") for p in parts.query.split("&"))
        shown += "?" + "&".join(f"{name}={MASK}" if eq else MASK for name, eq, _ in pairs)
    return shown


def _recipients(to: Any) -> str:
    names = [str(t) for t in (to if isinstance(to, list) else [to] if to else [])]
    if not names:
        return "nobody"
    text = ", ".join(names[:SHOWN_RECIPIENTS])
    left = len(names) - SHOWN_RECIPIENTS
    return text + (f" and {left} more" if left > 0 else "")


def _one_line(text: str) -> str:
    text = _SPACES.sub(" ", text).strip()
    return text if len(text) <= MAX_TARGET else text[: MAX_TARGET - 1] + "…"
