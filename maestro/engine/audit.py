"""The audit trail of workflows and tokens: what was done to a workflow as a whole (submitted,
activated, paused, resumed, unblocked, deleted) and to a token (created, revoked), by whom —
events of their own beside the runs' (``events.workflow_id``; entity ``workflow`` or
``token``). Actions on runs and steps are the runs' events already."""

from __future__ import annotations

from maestro.store.unit import Unit


def workflow_event(u: Unit, workflow_id: str, action: str, message: str | None = None) -> None:
    """Record ``action`` on the workflow, by the unit's actor."""
    u.add_event(workflow_id=workflow_id, entity="workflow", action=action, message=message)


def token_event(u: Unit, action: str, message: str) -> None:
    """Record ``action`` on a token (``message`` names it), by the unit's actor."""
    u.add_event(entity="token", action=action, message=message)
