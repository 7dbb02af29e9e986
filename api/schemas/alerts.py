"""Alerts (the outbox rows) and a workflow's alert rules."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from api.schemas.common import PagePublic, Public
from api.schemas.shapes import from_shape
from maestro import reads
from maestro.states import AlertStatus


@from_shape(reads.AlertView)
class AlertPublic(Public):
    """An alert: what happened (event), where it goes (channel, target) and how its delivery
    stands (status, attempts, last error)."""

    id: int = Field(description="The alert's number: `/alerts/{id}`, `maestro alerts retry ID`.")
    key: str = Field(
        description="The alert's id in its payload and the Idempotency-Key of its requests."
    )
    target: str = Field(
        description="Where it goes, in one line: a webhook's URL without user, password or "
        "query values; a connection's name, never its URL."
    )
    status: AlertStatus = Field(
        description="SCHEDULED (a timer not due yet), PENDING (to be sent or retried), "
        "DELIVERED, FAILED (out of tries, or a channel that cannot work: retry it)."
    )
    attempts: int = Field(description="Tries made so far.")
    due_at: datetime | None = Field(
        description="SCHEDULED: when the timer fires; PENDING: the next try, not before; "
        "null otherwise."
    )


class AlertsPublic(PagePublic):
    items: list[AlertPublic]


@from_shape(reads.AlertRuleView)
class AlertRulePublic(Public):
    """One rule of a workflow's ``alerts:`` or of a step's."""

    level: str = Field(description="`workflow` or `step`.")
    target: str = Field(description="Where it sends, in one line, without secrets.")


class AlertRulesPublic(Public):
    """The alert rules of a workflow's active version."""

    workflow_id: str
    version: int
    items: list[AlertRulePublic]
