"""Client commands for runs: ``maestro start`` and ``maestro runs list|show|logs|stop|kill|
pause|resume|restart`` (HTTP, see ``maestro.cli.client``)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from maestro.cli.client import (
    POLL_SECONDS,
    Api,
    JsonFlag,
    ParamOpt,
    RunArg,
    WorkflowArg,
    _print_json,
    _status,
    _time,
    connect,
    out,
    runs_app,
)
from maestro.cli.common import app, err, fail, parse_params
from maestro.states import ATTEMPT_TERMINAL, RUN_TERMINAL

# -- runs ----------------------------------------------------------------------------------


@app.command()
def start(
    workflow: WorkflowArg,
    param: ParamOpt = [],  # noqa: B006  # typer reads the default
    version: Annotated[int | None, typer.Option(min=1, help="Default: the active one.")] = None,
    idempotency_key: Annotated[
        str | None, typer.Option(help="The same key starts the workflow only once.")
    ] = None,
    wait: Annotated[
        bool, typer.Option(help="Wait for the run to end; exit 0 if it SUCCEEDED.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Start a run of WORKFLOW on the server."""
    body: dict[str, Any] = {"params": parse_params(param)}
    if version is not None:
        body["version"] = version
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    with connect() as api:
        run = api.json("POST", f"/workflows/{workflow}/runs", json=body, headers=headers)
        if wait:
            run = _wait(api, run["id"], quiet=as_json)
    if as_json:
        _print_json(run)
    elif wait:
        _show_run(run, _all_steps_of(run["id"]))
    else:
        print(f"started {workflow} run {run['id']} (#{run['number']}): {run['status']}")
    if wait:
        raise typer.Exit(0 if run["status"] == "SUCCEEDED" else 1)


def _wait(api: Api, run_id: int, *, quiet: bool) -> Any:
    started = time.monotonic()
    while True:
        run = api.json("GET", f"/runs/{run_id}")
        if run["status"] in RUN_TERMINAL:
            return run
        if not quiet:
            counts = run.get("step_counts", {})
            done = sum(n for s, n in counts.items() if s in _DONE)
            err.print(
                f"run {run_id}: {run['status']} · {done}/{run.get('steps_total', 0)} steps done"
                f" · {time.monotonic() - started:0.0f}s",
                highlight=False,
                end="\r",
            )
        time.sleep(POLL_SECONDS)


_DONE = {
    "SUCCEEDED",
    "FAILED",
    "FAILED_IGNORED",
    "SKIPPED",
    "UPSTREAM_FAILED",
    "STOPPED",
    "TIMED_OUT",
}


def _all_steps_of(run_id: int) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    cursor: str | None = None
    with connect() as api:
        while True:
            params: dict[str, Any] = {"limit": 500}
            if cursor:
                params["cursor"] = cursor
            page = api.json("GET", f"/runs/{run_id}/steps", params=params)
            steps.extend(page["items"])
            cursor = page["next_cursor"]
            if not cursor:
                return steps


def _show_run(run: Mapping[str, Any], steps: list[dict[str, Any]]) -> None:
    table = Table(
        title=f"{run['workflow_id']} · run {run['id']} (#{run['number']}, v{run['version']})",
        title_justify="left",
    )
    for column in ("step", "type", "status", "attempts", "started", "ended", "outputs / error"):
        table.add_column(column, overflow="fold")
    for s in steps:
        detail = s.get("error") or (json.dumps(s["outputs"]) if s.get("outputs") else "")
        table.add_row(
            s["step_id"],
            s["step_type"],
            _status(s["status"]),
            str(s["attempt_count"]),
            _time(s.get("started_at")),
            _time(s.get("ended_at")),
            detail if len(detail) <= 120 else detail[:119] + "…",
        )
    out.print(table)
    line = Text("run ") + _status(run["status"])
    line.append(f"  · trigger {run['trigger']} · created {_time(run['created_at'])}")
    out.print(line)
    if run.get("error"):
        out.print(Text(run["error"], style="red"), soft_wrap=True)
    if run.get("outputs"):
        out.print(Text(f"outputs: {json.dumps(run['outputs'])}"), soft_wrap=True)


@runs_app.command("list")
def runs_list(
    workflow: Annotated[
        str | None, typer.Argument(help="Workflow id (default: runs of every workflow).")
    ] = None,
    status: Annotated[
        list[str], typer.Option(help="Only runs with this status (repeatable).")
    ] = [],  # noqa: B006  # typer reads the default
    trigger: Annotated[
        list[str],
        typer.Option(help="Only runs started so: manual, cron, signal, backfill, restart, …"),
    ] = [],  # noqa: B006
    since: Annotated[
        str | None, typer.Option(help="Created at or after (ISO date or time, UTC if no zone).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Created before (ISO date or time).")] = None,
    text: Annotated[
        str | None, typer.Option("--params-text", help="Params containing this text (any case).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="At most this many.")] = 20,
    cursor: Annotated[str | None, typer.Option(help="Page cursor from --json output.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Runs newest first: one workflow's or every workflow's, filtered."""
    params: dict[str, Any] = {
        "limit": limit,
        "status": [s.upper() for s in status],
        "trigger": [t.lower() for t in trigger],
    }
    extra = {"since": since, "until": until, "q": text, "cursor": cursor, "workflow": workflow}
    params.update({k: v for k, v in extra.items() if v})
    with connect() as api:
        page = api.json("GET", "/runs", params=params)
    if as_json:
        _print_json(page)
        return
    table = Table("run", "workflow", "#", "version", "status", "trigger", "created", "ended")
    for r in page["items"]:
        table.add_row(
            str(r["id"]),
            r["workflow_id"],
            str(r["number"]),
            str(r["version"]),
            _status(r["status"]),
            r["trigger"],
            _time(r["created_at"]),
            _time(r.get("ended_at")),
        )
    out.print(table)
    if page.get("searched_to"):
        err.print(
            f"searched the newest runs down to run {page['searched_to']} without filling the page",
            highlight=False,
        )
    if page["next_cursor"]:
        err.print(f"more: --cursor {page['next_cursor']}", highlight=False)


@runs_app.command("show")
def runs_show(run_id: RunArg, as_json: JsonFlag = False) -> None:
    """A run with its steps."""
    with connect() as api:
        run = api.json("GET", f"/runs/{run_id}")
    steps = _all_steps_of(run_id)
    if as_json:
        _print_json({**run, "steps": steps})
    else:
        _show_run(run, steps)


@runs_app.command("logs")
def runs_logs(
    run_id: RunArg,
    step: Annotated[str, typer.Argument(help="Step id.")],
    attempt: Annotated[int | None, typer.Option(min=1, help="Default: the latest.")] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing until the attempt ends.")
    ] = False,
) -> None:
    """Print an attempt's log (the latest attempt unless --attempt)."""
    with connect() as api:
        number = attempt or _latest_attempt(api, run_id, step, wait=follow)
        offset = 0
        while True:
            response = api.call(
                "GET",
                f"/runs/{run_id}/steps/{step}/attempts/{number}/logs",
                params={"offset": offset},
            )
            sys.stdout.buffer.write(response.content)
            sys.stdout.flush()
            offset = int(response.headers.get("X-Next-Offset", offset + len(response.content)))
            ended = response.headers.get("X-Attempt-Status") in ATTEMPT_TERMINAL
            if not follow or (ended and not response.content):
                return
            if not response.content:
                time.sleep(POLL_SECONDS)


def _latest_attempt(api: Api, run_id: int, step: str, *, wait: bool) -> int:
    while True:
        detail = api.json("GET", f"/runs/{run_id}/steps/{step}")
        if detail["attempts"]:
            return int(detail["attempts"][-1]["number"])
        if not wait:
            fail(f"step {step!r} of run {run_id} has no attempt yet", code=1)
        time.sleep(POLL_SECONDS)


def _run_action(action: str, done: str) -> None:
    def command(run_id: RunArg, as_json: JsonFlag = False) -> None:
        with connect() as api:
            run = api.json("POST", f"/runs/{run_id}/{action}")
        if as_json:
            _print_json(run)
        else:
            print(f"run {run_id} {done}: {run['status']}")

    command.__doc__ = f"{action.capitalize()} a run."
    runs_app.command(action)(command)


_run_action("stop", "stopped")
_run_action("kill", "killed")
_run_action("pause", "paused")
_run_action("resume", "resumed")


@runs_app.command("restart")
def runs_restart(
    run_id: RunArg,
    from_: Annotated[
        str, typer.Option("--from", help="failed (default), beginning, or step (with --step).")
    ] = "failed",
    step: Annotated[str | None, typer.Option(help="The step to restart from.")] = None,
    param: ParamOpt = [],  # noqa: B006  # typer reads the default
    as_json: JsonFlag = False,
) -> None:
    """Start a new run from RUN_ID: rerun its failed steps, all of them, or a step and what
    follows it, reusing the outputs of the others."""
    if from_ not in ("failed", "beginning", "step"):
        fail(f"--from must be failed, beginning or step, not {from_!r}")
    if step and from_ != "step":
        from_ = "step"
    if from_ == "step" and not step:
        fail("--from step needs --step STEP: the step to restart from")
    body: dict[str, Any] = {"from": from_, "step_id": step}
    if param:
        body["params"] = parse_params(param)
    with connect() as api:
        run = api.json("POST", f"/runs/{run_id}/restart", json=body)
    if as_json:
        _print_json(run)
    else:
        print(f"run {run_id} restarted as run {run['id']} (#{run['number']}): {run['status']}")
