"""Client commands: talk to a Maestro server over HTTP (``MAESTRO_API_URL``, ``MAESTRO_TOKEN``).

``maestro workflow …``, ``maestro start``, ``maestro runs …``, ``maestro signal send``,
``maestro backfill`` and ``maestro alerts …`` (``client_alerts``). Tables for people,
``--json`` for scripts. A problem the server reports is printed readably, never as a
traceback: exit code 2 for bad input (400, 413, 422), 1 for anything else (401, 403, 404,
409, 5xx, an unreachable server).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from maestro.cli.common import STATUS_STYLE, app, err, fail
from maestro.settings import load_settings
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


@workflow_app.command("events")
def workflow_events(
    workflow: WorkflowArg,
    limit: Annotated[int, typer.Option(min=1, max=500, help="At most this many.")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """Who did what to the workflow (submit, activate, pause, resume, unblock, delete), newest
    first; a deleted workflow's trail too."""
    with connect() as api:
        page = api.json("GET", f"/workflows/{workflow}/events", params={"limit": limit})
    if as_json:
        print(json.dumps(page))
        return
    table = Table("when", "action", "by", "what")
    for e in page["items"]:
        table.add_row(e["at"][:19].replace("T", " "), e["action"] or "", e["actor"], e["message"])
    out.print(table)


@workflow_app.command("delete")
def workflow_delete(
    workflow: WorkflowArg,
    force: Annotated[bool, typer.Option(help="Stop its active runs first.")] = False,
) -> None:
    """Delete a workflow with its versions and runs."""
    with connect() as api:
        api.call("DELETE", f"/workflows/{workflow}", params={"force": str(force).lower()})
    print(f"{workflow}: deleted")
