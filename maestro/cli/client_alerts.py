"""Client commands for alerts: ``maestro alerts list`` and ``maestro alerts retry`` (HTTP, see
``maestro.cli.client``)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from maestro.cli.client import JsonFlag, _print_json, connect, out
from maestro.cli.common import app, err
from maestro.states import AlertStatus

alerts_app = typer.Typer(
    help="Alerts on a Maestro server (MAESTRO_API_URL): what was sent where, what failed.\n\n"
    "An alert is SCHEDULED (a timer not due yet), PENDING (to be sent or retried), DELIVERED "
    "or FAILED (out of tries, or a channel that cannot work: send it again with `maestro "
    "alerts retry ID`)."
)
app.add_typer(alerts_app, name="alerts", no_args_is_help=True)

#: the longest last error a table row shows (``--json`` has all of it)
ERROR_WIDTH = 80
STATUSES = ", ".join(s.value for s in AlertStatus)
ALERT_STYLE = {"DELIVERED": "green", "FAILED": "red", "PENDING": "yellow", "SCHEDULED": "blue"}


@alerts_app.command("list")
def alerts_list(
    run: Annotated[
        int | None, typer.Option("--run", min=1, help="Only the alerts of this run (its id).")
    ] = None,
    workflow: Annotated[
        str | None, typer.Option("--workflow", help="Only the alerts of this workflow.")
    ] = None,
    status: Annotated[
        str | None,
        typer.Option("--status", help=f"Only alerts with this status: {STATUSES}.", metavar="S"),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="At most this many.")] = 20,
    cursor: Annotated[
        str | None, typer.Option(help="Page cursor printed by a previous list.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Alerts, newest first: event, where each goes, status, tries and last error.

    `maestro alerts list --status FAILED` lists the dead letters to send again.
    """
    params: dict[str, Any] = {"limit": limit}
    if status is not None:
        params["status"] = status.upper()
    if run is not None:
        params["run_id"] = run
    if workflow is not None:
        params["workflow_id"] = workflow
    if cursor:
        params["cursor"] = cursor
    with connect() as api:
        page = api.json("GET", "/alerts", params=params)
    if as_json:
        _print_json(page)
        return
    if not page["items"]:
        err.print("no alerts", highlight=False)
        return
    # the columns that matter to act on; --json has the workflow, the key and every time
    table = Table()
    for column in ("alert", "status", "tries", "run"):
        table.add_column(column, no_wrap=True)
    for column in ("event", "sent to", "last error"):
        table.add_column(column, overflow="fold", ratio=1)
    for a in page["items"]:
        event = a["event"] + (f" ({a['step_id']})" if a.get("step_id") else "")
        table.add_row(
            str(a["id"]),
            _alert_status(a["status"]),
            str(a["attempts"]),
            str(a["run_id"]),
            event,
            a["target"],
            _short(a.get("last_error")),
        )
    out.print(table)
    if page["next_cursor"]:
        err.print(f"more: --cursor {page['next_cursor']}", highlight=False)


@alerts_app.command("retry")
def alerts_retry(
    alert_id: Annotated[int, typer.Argument(min=1, help="The alert's id, as `alerts list` shows.")],
    as_json: JsonFlag = False,
) -> None:
    """Send a FAILED alert again, with a new series of tries.

    Needs write scope for the workflow's owner; an alert not FAILED is refused (exit 1).
    """
    with connect() as api:
        alert = api.json("POST", f"/alerts/{alert_id}/retry")
    if as_json:
        _print_json(alert)
        return
    line = Text(f"alert {alert_id} ({alert['event']}, {alert['target']}) sent again: ")
    out.print(line + _alert_status(alert["status"]), soft_wrap=True)


def _alert_status(value: str) -> Text:
    return Text(value, style=ALERT_STYLE.get(value, ""))


def _short(text: str | None) -> str:
    if not text:
        return ""
    line = " ".join(text.split())
    return line if len(line) <= ERROR_WIDTH else line[: ERROR_WIDTH - 1] + "…"
