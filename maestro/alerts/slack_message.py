"""The Slack message of an alert: a line of text (the rule's ``message``, or a summary) and
blocks with the workflow, run, status, step and error, linking to the run's page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Slack refuses a text block over 3,000 characters
_MAX_TEXT = 2900


def summary(payload: Mapping[str, Any]) -> str:
    """``run_failed: etl run #7 is FAILED`` (``… step load …`` for a step event)."""
    step = f" step {payload['step_id']}" if payload.get("step_id") else ""
    return (
        f"{payload.get('event')}: {payload.get('workflow_id')} run #{payload.get('run_number')}"
        f"{step} is {payload.get('status')}"
    )


def slack_message(settings: Mapping[str, Any], payload: Mapping[str, Any]) -> dict[str, Any]:
    text = str(settings.get("message") or summary(payload))
    url = str(payload.get("url") or "")
    fields = [
        ("Workflow", escape(str(payload.get("workflow_id")))),
        (
            "Run",
            f"<{url}|#{payload.get('run_number')}>" if url else f"#{payload.get('run_number')}",
        ),
        ("Status", escape(str(payload.get("status")))),
    ]
    if payload.get("step_id"):
        fields.append(("Step", escape(str(payload["step_id"]))))
    if payload.get("logical_date"):
        fields.append(("Logical date", escape(str(payload["logical_date"]))))
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": escape(text)[:_MAX_TEXT]}},
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": f"*{name}*\n{value}"} for name, value in fields],
        },
    ]
    if payload.get("error"):
        error = escape(str(payload["error"]))[:_MAX_TEXT]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"```{error}```"}})
    message: dict[str, Any] = {"text": text, "blocks": blocks}
    if settings.get("channel"):
        message["channel"] = str(settings["channel"])
    return message


def escape(text: str) -> str:
    """Slack's mrkdwn: ``&``, ``<`` and ``>`` are control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
