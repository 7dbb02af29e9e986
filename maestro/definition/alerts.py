"""Alert rules in a definition (spec/alerts.md): which events, when, and one channel.

A rule at the workflow level hears run events and the step events of every step of the
workflow's own DAG; a rule on a step hears that step's events only. Each rule names exactly one
channel. Strings in a channel (urls, headers, recipients, ``message``) may be templates, rendered
when the alert is sent with the run's scope plus ``alert`` (the payload).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from maestro.definition.basics import (
    CALLABLE_RE,
    ConnectionName,
    NonBlank,
    PositiveDuration,
    Text,
    _Model,
)


class AlertEvent(StrEnum):
    run_succeeded = "run_succeeded"
    run_failed = "run_failed"
    run_stopped = "run_stopped"
    run_timed_out = "run_timed_out"
    run_overdue = "run_overdue"  # still not ended ``after`` its start (needs ``after``)
    deadline_missed = "deadline_missed"  # not SUCCEEDED ``deadline`` after its logical date
    step_failed = "step_failed"
    step_retried = "step_retried"
    step_timed_out = "step_timed_out"
    signal_wait_timed_out = "signal_wait_timed_out"


#: the events a rule on a step may name: that step's own
STEP_EVENTS = frozenset(
    {
        AlertEvent.step_failed,
        AlertEvent.step_retried,
        AlertEvent.step_timed_out,
        AlertEvent.signal_wait_timed_out,
    }
)
#: the events a scheduler timer fires (every other event is a status change)
TIMER_EVENTS = frozenset({AlertEvent.run_overdue, AlertEvent.deadline_missed})

_URL_RE = re.compile(r"^https?://[^\s/]+", re.IGNORECASE)
_TEMPLATE_RE = re.compile(r"\{\{|\{%")


def _check_url(value: str) -> str:
    if not _TEMPLATE_RE.search(value) and not _URL_RE.match(value):
        raise ValueError(f"{value!r} is not an http:// or https:// URL")
    return value


def _check_callable(value: str) -> str:
    if not CALLABLE_RE.match(value):
        raise ValueError(f"{value!r} is not 'package.module:function'")
    return value


def _to_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class WebhookChannel(_Model):
    """POST (or PUT) the JSON payload; a 2xx answer is a delivery."""

    url: Annotated[str, AfterValidator(_check_url)]
    headers: dict[NonBlank, Text] = Field(default_factory=dict)
    method: Literal["POST", "PUT"] = "POST"
    #: an optional line of text added to the payload as ``message``
    message: str | None = None


class SlackChannel(_Model):
    """A Slack message through an incoming webhook; the URL is the connection's (a secret)."""

    connection: ConnectionName
    channel: str | None = None
    message: str | None = None


class EmailChannel(_Model):
    """A plain-text and HTML mail over SMTP to ``to``; the connection is ``smtp://…``."""

    connection: ConnectionName
    to: Annotated[list[NonBlank], BeforeValidator(_to_list)] = Field(min_length=1)
    from_: NonBlank | None = Field(default=None, alias="from")
    subject: str | None = None
    message: str | None = None


class PythonChannel(_Model):
    """Calls ``package.module:function(payload)``; returning is a delivery."""

    callable: Annotated[str, AfterValidator(_check_callable)]


CHANNELS = ("webhook", "slack", "email", "python")


class AlertRule(_Model):
    """One entry of ``alerts:``."""

    on: Annotated[list[AlertEvent], BeforeValidator(_to_list)] = Field(min_length=1)
    #: run_overdue: the time-to-complete, counted from the run's start
    after: PositiveDuration | None = None
    #: deadline_missed: counted from the run's logical date
    deadline: PositiveDuration | None = None
    webhook: WebhookChannel | None = None
    slack: SlackChannel | None = None
    email: EmailChannel | None = None
    python: PythonChannel | None = None

    @model_validator(mode="after")
    def _consistent(self) -> AlertRule:
        named = [key for key in CHANNELS if getattr(self, key) is not None]
        if len(named) != 1:
            raise ValueError(
                "an alert needs exactly one channel (webhook, slack, email or python), "
                + (f"not {len(named)}: {', '.join(named)}" if named else "and has none")
            )
        overdue = AlertEvent.run_overdue in self.on
        if overdue and self.after is None:
            raise ValueError("run_overdue needs 'after' (the time a run may take, e.g. 2h)")
        if self.after is not None and not overdue:
            raise ValueError("'after' is only used by run_overdue, which 'on' does not name")
        missed = AlertEvent.deadline_missed in self.on
        if missed and self.deadline is None:
            raise ValueError("deadline_missed needs 'deadline' (e.g. 6h after the logical date)")
        if self.deadline is not None and not missed:
            raise ValueError("'deadline' is only used by deadline_missed, which 'on' does not name")
        return self

    @property
    def channel(self) -> str:
        return next(key for key in CHANNELS if getattr(self, key) is not None)

    @property
    def settings(self) -> WebhookChannel | SlackChannel | EmailChannel | PythonChannel:
        found = getattr(self, self.channel)
        assert found is not None
        return found  # type: ignore[no-any-return]

    @property
    def connection(self) -> str | None:
        """The connection the channel reads its address from, if any."""
        return getattr(self.settings, "connection", None)


def _step_events_only(rules: list[AlertRule]) -> list[AlertRule]:
    for i, rule in enumerate(rules):
        others = [str(e) for e in rule.on if e not in STEP_EVENTS]
        if others:
            raise ValueError(
                f"alert {i} names {', '.join(others)}: a step's alerts hear its own events only "
                "(step_failed, step_retried, step_timed_out, signal_wait_timed_out); put run "
                "events in the workflow's alerts"
            )
    return rules


StepAlerts = Annotated[list[AlertRule], AfterValidator(_step_events_only)]
