"""Client commands for signals and backfills: ``maestro signal send`` and ``maestro backfill``
(HTTP, see ``maestro.cli.client``)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from maestro.cli.client import Api, JsonFlag, WorkflowArg, _print_json, connect, signal_app
from maestro.cli.common import app, fail
from maestro.wording import plural

# -- signals and backfills -----------------------------------------------------------------


@signal_app.command("send")
def signal_send(
    name: Annotated[str, typer.Argument(help="Signal name.")],
    payload: Annotated[str, typer.Option(help="JSON object.")] = "{}",
    dedupe_key: Annotated[str | None, typer.Option(help="Send at most once per key.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Send a signal: starts matching signal-triggered workflows, releases waiting steps."""
    try:
        data = json.loads(payload)
    except ValueError as exc:
        fail(f"--payload is not JSON: {exc}")
    if not isinstance(data, dict):
        fail("--payload must be a JSON object")
    with connect() as api:
        result = api.json(
            "POST", "/signals", json={"name": name, "payload": data, "dedupe_key": dedupe_key}
        )
    if as_json:
        _print_json(result)
    else:
        print(
            f"signal {result['signal_id']}: started runs {result['runs_started'] or 'none'}, "
            f"released steps {result['steps_released'] or 'none'}"
        )


@app.command()
def backfill(
    workflow: WorkflowArg,
    start: Annotated[
        str,
        typer.Option(
            help="First logical date: 2024-03-01 (that day's start) or 2024-03-01T03:00 (UTC "
            "unless an offset is given).",
            show_default=False,
        ),
    ],
    end: Annotated[
        str,
        typer.Option(
            help="Last logical date, included: 2024-03-03 covers that whole day (UTC), "
            "2024-03-03T03:00 ends at that instant.",
            show_default=False,
        ),
    ],
    max_concurrency: Annotated[int, typer.Option(min=1, help="Runs at once.")] = 1,
    wait: Annotated[
        bool, typer.Option("--wait", help="Show a progress bar until every run has ended.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Start one run of WORKFLOW per cron tick in [START, END]."""
    body = {
        "start": _instant("--start", start, end_of_day=False).isoformat(),
        "end": _instant("--end", end, end_of_day=True).isoformat(),
        "max_concurrency": max_concurrency,
    }
    with connect() as api:
        result = api.json("POST", f"/workflows/{workflow}/backfills", json=body)
        if wait and not as_json:
            print(f"backfill {result['backfill_id']}: {plural(len(result['run_ids']), 'run')}")
            progress = _follow_backfill(api, workflow, result["backfill_id"])
            raise typer.Exit(0 if progress["failed"] == progress["stopped"] == 0 else 1)
    if as_json:
        _print_json(result)
    else:
        print(f"backfill {result['backfill_id']}: {plural(len(result['run_ids']), 'run')}")


def _follow_backfill(api: Api, workflow: str, backfill_id: int) -> dict[str, Any]:
    """A progress bar over the backfill's runs until each has ended; the last progress."""
    path = f"/workflows/{workflow}/backfills/{backfill_id}"
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as bar:
        state = api.json("GET", path)
        task = bar.add_task("backfill", total=state["total"], detail="")
        while True:
            detail = (
                f"{state['running']} running · {state['queued']} queued · {state['failed']} failed"
            )
            bar.update(task, completed=state["done"], detail=detail)
            if state["done"] >= state["total"] or state["status"] != "RUNNING":
                return dict(state)
            time.sleep(1)
            state = api.json("GET", path)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _instant(option: str, text: str, *, end_of_day: bool) -> datetime:
    """An ISO date or date-time; a date alone is its day's start, or its last microsecond
    (``end_of_day``: ``--end 2024-03-03`` includes that day's 03:00 tick)."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        fail(f"{option} {text!r}: expected a date (2024-03-01) or a date-time (2024-03-01T03:00)")
    if end_of_day and len(text.strip()) == len("2024-03-03"):
        value = value.replace(hour=23, minute=59, second=59, microsecond=999_999)
    return _aware(value)
