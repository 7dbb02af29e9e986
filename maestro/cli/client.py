"""Client commands: talk to a Maestro server over HTTP (``MAESTRO_API_URL``, ``MAESTRO_TOKEN``).

``maestro workflow …``, ``maestro start``, ``maestro runs …``, ``maestro signal send`` and
``maestro backfill``. Tables for people, ``--json`` for scripts. A problem the server reports
is printed readably, never as a traceback: exit code 2 for bad input (400, 413, 422), 1 for
anything else (401, 403, 404, 409, 5xx, an unreachable server).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from maestro.cli.common import STATUS_STYLE, app, err, fail, parse_params
from maestro.settings import load_settings
from maestro.states import ATTEMPT_TERMINAL, RUN_TERMINAL
from maestro.wording import plural

workflow_app = typer.Typer(help="Workflows on a Maestro server (MAESTRO_API_URL).")
runs_app = typer.Typer(help="Runs on a Maestro server (MAESTRO_API_URL).")
signal_app = typer.Typer(help="Signals on a Maestro server (MAESTRO_API_URL).")
app.add_typer(workflow_app, name="workflow", no_args_is_help=True)
app.add_typer(runs_app, name="runs", no_args_is_help=True)
app.add_typer(signal_app, name="signal", no_args_is_help=True)

out = Console()
BAD_INPUT = (400, 413, 422)
POLL_SECONDS = 0.5

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the server's JSON.")]
RunArg = Annotated[int, typer.Argument(help="Run id.", min=1)]
WorkflowArg = Annotated[str, typer.Argument(help="Workflow id.")]
ParamOpt = Annotated[
    list[str], typer.Option("--param", "-p", help="Run parameter NAME=VALUE (repeatable).")
]


# -- the HTTP client -----------------------------------------------------------------------


class Api:
    """The server at MAESTRO_API_URL, with MAESTRO_TOKEN as bearer token."""

    def __init__(self, client: httpx.Client, base: str) -> None:
        self.client = client
        self.base = base

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if method not in ("GET", "HEAD") and not {"json", "content"} & set(kwargs):
            # a body-less action still says its type: the API refuses state-changing requests
            # without one when no token is sent (what a drive-by web page would send)
            kwargs["json"] = {}
        try:
            response = self.client.request(method, f"/api/v1{path}", **kwargs)
        except httpx.HTTPError as exc:
            fail(f"cannot reach the Maestro API at {self.base}: {exc}", code=1)
        if response.status_code >= 400:
            report_problem(response)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.call(method, path, **kwargs)
        return response.json() if response.content else None


@contextmanager
def connect() -> Iterator[Api]:
    settings = load_settings()
    base = settings.api_url.rstrip("/")
    headers = {"Authorization": f"Bearer {settings.token}"} if settings.token else {}
    with httpx.Client(base_url=base, headers=headers, timeout=30.0) as client:
        yield Api(client, base)


def report_problem(response: httpx.Response) -> NoReturn:
    """Print the server's problem+json (or whatever it sent) and exit 2 or 1."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "detail" in body:
        err.print(
            Text(f"error: {response.status_code} {body.get('title', '')}: {body['detail']}"),
            style="red",
            soft_wrap=True,
        )
        for problem in body.get("errors") or []:
            loc = _loc(problem.get("loc") or [])
            err.print(Text(f"  {loc}: {problem.get('msg', '')}"), soft_wrap=True)
    else:
        err.print(
            Text(f"error: {response.status_code} {response.reason_phrase}"),
            style="red",
        )
    raise typer.Exit(2 if response.status_code in BAD_INPUT else 1)


def _loc(parts: list[Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(root)"


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def _status(value: str | None) -> Text:
    return Text(value or "", style=STATUS_STYLE.get(value or "", ""))


def _time(value: str | None) -> str:
    if not value:
        return ""
    return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M:%S")


def _read_file(file: Path) -> bytes:
    try:
        return file.read_bytes()
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}")


def _content_type(file: Path) -> str:
    return "application/json" if file.suffix.lower() == ".json" else "application/yaml"


# -- workflows -----------------------------------------------------------------------------


@workflow_app.command("submit")
def workflow_submit(
    file: Annotated[Path, typer.Argument(help="Workflow definition (YAML or JSON).")],
    activate: Annotated[
        bool, typer.Option(help="Make the new version the active one (--no-activate stages it).")
    ] = True,
    as_json: JsonFlag = False,
) -> None:
    """Submit a definition: a new version unless it equals the latest one."""
    body = _read_file(file)
    with connect() as api:
        result = api.json(
            "POST",
            "/workflows",
            content=body,
            params={"activate": str(activate).lower()},
            headers={"Content-Type": _content_type(file)},
        )
    if as_json:
        _print_json(result)
    elif result["created"]:
        print(
            f"submitted {result['id']} version {result['version']} "
            f"(active version: {result['active_version']})"
        )
    else:
        print(f"unchanged: {result['id']} version {result['version']} is identical")


@workflow_app.command("validate")
def workflow_validate(
    file: Annotated[Path, typer.Argument(help="Workflow definition (YAML or JSON).")],
    as_json: JsonFlag = False,
) -> None:
    """Validate a definition on the server (exit 2 with every problem if invalid)."""
    body = _read_file(file)
    with connect() as api:
        result = api.json(
            "POST",
            "/workflows/validate",
            content=body,
            headers={"Content-Type": _content_type(file)},
        )
    if as_json:
        _print_json(result)
    else:
        steps = len(result["definition"].get("steps", []))
        print(f"{file}: valid workflow {result['id']!r} with {plural(steps, 'step')}")


@workflow_app.command("list")
def workflow_list(
    owner: Annotated[str | None, typer.Option(help="Only this owner's.")] = None,
    tag: Annotated[str | None, typer.Option(help="Only those with this tag.")] = None,
    q: Annotated[str | None, typer.Option("--q", help="Text in id, name, description.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="At most this many.")] = 100,
    as_json: JsonFlag = False,
) -> None:
    """Workflows with their last run."""
    params = {k: v for k, v in {"owner": owner, "tag": tag, "q": q}.items() if v is not None}
    with connect() as api:
        page = api.json("GET", "/workflows", params={**params, "limit": limit})
    if as_json:
        _print_json(page)
        return
    table = Table("workflow", "owner", "version", "paused", "last run", "status", "ended")
    for w in page["items"]:
        last = w.get("last_run") or {}
        table.add_row(
            w["id"],
            w["owner"],
            str(w["active_version"]),
            "yes" if w["paused"] else "",
            f"#{last['number']} (id {last['id']})" if last else "",
            _status(last.get("status")),
            _time(last.get("ended_at")),
        )
    out.print(table)


@workflow_app.command("show")
def workflow_show(workflow: WorkflowArg, as_json: JsonFlag = False) -> None:
    """A workflow: versions, triggers, last run."""
    with connect() as api:
        detail = api.json("GET", f"/workflows/{workflow}")
    if as_json:
        _print_json(detail)
        return
    last = detail.get("last_run") or {}
    rows = [
        ("id", detail["id"]),
        ("name", detail["name"]),
        ("owner", detail["owner"]),
        ("tags", ", ".join(detail["tags"])),
        ("versions", f"active {detail['active_version']}, latest {detail['latest_version']}"),
        ("paused", "yes" if detail["paused"] else "no"),
        ("triggers", json.dumps(detail["triggers"]) if detail["triggers"] else "none"),
        ("next trigger", _time(detail.get("next_trigger_at")) or "-"),
        ("steps", str(len(detail["definition"].get("steps", [])))),
        ("last run", f"{last['id']} {last['status']}" if last else "-"),
    ]
    for key, value in rows:
        out.print(Text(f"{key:>13}  ", style="bold") + Text(str(value)))


@workflow_app.command("activate")
def workflow_activate(
    workflow: WorkflowArg,
    version: Annotated[int, typer.Argument(help="Version to make active.", min=1)],
) -> None:
    """Make VERSION the version new runs use."""
    with connect() as api:
        api.json("POST", f"/workflows/{workflow}/versions/{version}/activate")
    print(f"{workflow}: version {version} is active")


@workflow_app.command("pause")
def workflow_pause(workflow: WorkflowArg) -> None:
    """Stop firing the workflow's triggers (started runs go on)."""
    with connect() as api:
        api.json("POST", f"/workflows/{workflow}/pause")
    print(f"{workflow}: paused")


@workflow_app.command("resume")
def workflow_resume(workflow: WorkflowArg) -> None:
    """Fire the workflow's triggers again."""
    with connect() as api:
        api.json("POST", f"/workflows/{workflow}/resume")
    print(f"{workflow}: resumed")


@workflow_app.command("delete")
def workflow_delete(
    workflow: WorkflowArg,
    force: Annotated[bool, typer.Option(help="Stop its active runs first.")] = False,
) -> None:
    """Delete a workflow with its versions and runs."""
    with connect() as api:
        api.call("DELETE", f"/workflows/{workflow}", params={"force": str(force).lower()})
    print(f"{workflow}: deleted")


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
    workflow: WorkflowArg,
    status: Annotated[
        list[str], typer.Option(help="Only runs with this status (repeatable).")
    ] = [],  # noqa: B006  # typer reads the default
    limit: Annotated[int, typer.Option(min=1, max=500, help="At most this many.")] = 20,
    cursor: Annotated[str | None, typer.Option(help="Page cursor from --json output.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """A workflow's runs, newest first."""
    params: dict[str, Any] = {"limit": limit, "status": [s.upper() for s in status]}
    if cursor:
        params["cursor"] = cursor
    with connect() as api:
        page = api.json("GET", f"/workflows/{workflow}/runs", params=params)
    if as_json:
        _print_json(page)
        return
    table = Table("run", "#", "version", "status", "trigger", "created", "ended")
    for r in page["items"]:
        table.add_row(
            str(r["id"]),
            str(r["number"]),
            str(r["version"]),
            _status(r["status"]),
            r["trigger"],
            _time(r["created_at"]),
            _time(r.get("ended_at")),
        )
    out.print(table)
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
    body: dict[str, Any] = {"from": from_, "step_id": step}
    if param:
        body["params"] = parse_params(param)
    with connect() as api:
        run = api.json("POST", f"/runs/{run_id}/restart", json=body)
    if as_json:
        _print_json(run)
    else:
        print(f"run {run_id} restarted as run {run['id']} (#{run['number']}): {run['status']}")


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
    start: Annotated[datetime, typer.Option(help="First logical date (UTC unless given).")],
    end: Annotated[datetime, typer.Option(help="Last logical date.")],
    max_concurrency: Annotated[int, typer.Option(min=1, help="Runs at once.")] = 1,
    wait: Annotated[
        bool, typer.Option("--wait", help="Show a progress bar until every run has ended.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Start one run of WORKFLOW per cron tick in [START, END]."""
    body = {
        "start": _aware(start).isoformat(),
        "end": _aware(end).isoformat(),
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
