"""The pages: workflows, a workflow's run history, a run, a step with its attempts' logs.

Handlers are plain functions run in the threadpool; each reads through
``maestro.reads`` on one read connection and returns
a ``Page``. Nothing here writes (``actions.py`` does).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup

from api.web import charts, dag, explain, finding, logs, session
from api.web.render import PAGE_METHODS, Page, error_page, render, status_of
from api.web.status import NOT_CREATED, is_terminal
from maestro import reads
from maestro.definition.models import STEP_ID_PATTERN
from maestro.engine.compiled import CompiledWorkflow
from maestro.engine.core import Engine
from maestro.errors import MaestroError
from maestro.reads.backfills import list_backfills
from maestro.states import RUN_ACTIVE, RunStatus, StepStatus

router = APIRouter(include_in_schema=False)

WorkflowId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]
RunId = Annotated[int, Path(ge=1, le=2**63 - 1)]
StepId = Annotated[str, Path(pattern=STEP_ID_PATTERN)]
Attempt = Annotated[int, Path(ge=1, le=2**31 - 1)]
Cursor = Annotated[int | None, Query(ge=1, le=2**63 - 1)]
Text = Annotated[str | None, Query(max_length=256, pattern=r"^[^\x00]*$")]
#: the step statuses the run page calls out at the top (what failed, and why)
FAILURES = frozenset({StepStatus.FAILED, StepStatus.TIMED_OUT, StepStatus.STOPPED})
#: runs per page of the history grid
GRID_RUNS = 40
#: workflow events (submit, activate, pause…) listed on the workflow page
ACTIVITY = 10
#: alerts listed on a run page (the newest; the API and the CLI page through the rest)
RUN_ALERTS = 50

Build = Callable[[session.Visitor, Engine], Page]
NO_FILTERS = finding.Filters()


def serve(request: Request, build: Build) -> Response:
    """Render what ``build`` finds for the caller; the login form when they must log in,
    an error page (with the API's status) for a domain error."""
    who = session.visitor(request)
    if who is None:
        return login_required(request)
    try:
        page = build(who, request.app.state.engine)
    except MaestroError as exc:
        page = error_page(exc.message, status_of(exc))
    return render(request, who, page)


def login_required(request: Request) -> Response:
    if request.headers.get("x-fragment") == "1" or request.method != "GET":
        return Response("log in first", status_code=401, media_type="text/plain")
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(here, safe='')}", status_code=303)


@router.api_route("/changes", methods=PAGE_METHODS)
def changes(request: Request) -> Response:
    """The change feed an idle page polls (``maestro.js``): a stamp that moves whenever a run
    is created or anything in a run changes; the page fetches its body again when it does."""
    if session.visitor(request) is None:
        return Response("log in first", status_code=401, media_type="text/plain")
    engine: Engine = request.app.state.engine
    with engine.db.read() as conn:
        stamp = reads.change_stamp(conn)
    return Response(stamp, media_type="text/plain", headers={"Cache-Control": "no-store"})


# -- workflows -------------------------------------------------------------------------------


@router.api_route("/", methods=PAGE_METHODS)
def workflows_page(
    request: Request, q: Text = None, owner: Text = None, cursor: Text = None
) -> Response:
    """Every workflow with its owner, tags, triggers and last 20 runs."""
    return serve(request, lambda who, engine: _workflows(engine, q, owner, cursor))


def _workflows(engine: Engine, q: str | None, owner: str | None, cursor: str | None) -> Page:
    with engine.db.read() as conn:
        listing = reads.list_workflows(
            conn, q=q or None, owner=owner or None, limit=50, cursor=cursor or None
        )
        recent = reads.recent_runs(conn, [w.id for w in listing.items])
    failures = finding.recent_failures(engine)
    active = any(not is_terminal(r.status) for runs in recent.values() for r in runs)
    context = {
        "workflows": listing.items,
        "next_cursor": listing.next_cursor,
        "recent": recent,
        "failures": failures.runs,
        "q": q or "",
        "owner": owner or "",
    }
    return Page("workflows", "Workflows", context, active=active)


# -- a workflow ------------------------------------------------------------------------------


@router.api_route("/workflows/{workflow_id}", methods=PAGE_METHODS)
def workflow_page(
    request: Request,
    workflow_id: WorkflowId,
    f: finding.FiltersDep,
    before: Cursor = None,
    after: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=reads.MAX_GRID_RUNS)] = GRID_RUNS,
) -> Response:
    """The run-history grid (runs × steps, newest left), durations, versions, triggers, alert
    rules; the grid filtered by status, trigger, dates and params text."""
    return serve(
        request,
        lambda who, engine: workflow_view(who, engine, workflow_id, before, after, limit, f),
    )


def workflow_view(
    who: session.Visitor,
    engine: Engine,
    workflow_id: str,
    before: int | None = None,
    after: int | None = None,
    limit: int = GRID_RUNS,
    f: finding.Filters = NO_FILTERS,
) -> Page:
    finding.check(f)
    now = engine.clock.now()
    searched_to = None
    with engine.db.read() as conn:
        detail = reads.workflow_detail(conn, workflow_id)
        if f.active:
            grid, found = reads.filtered_grid(
                conn, f.run_filter(workflow_id), before=before, limit=limit
            )
            counts, searched_to = found.counts, found.searched_to
        else:
            grid = reads.run_grid(conn, workflow_id, before=before, after=after, limit=limit)
            counts = reads.count_by_status(conn, f.run_filter(workflow_id), reads.IdRange())
        versions = reads.list_versions(conn, workflow_id, limit=10).items
        activity = reads.workflow_events(conn, workflow_id, limit=ACTIVITY).items
        recent_backfills = list_backfills(conn, workflow_id)
    durations = [d for d in (r.duration(now) for r in grid.runs) if d is not None]
    context = {
        "wf": detail,
        "grid": grid,
        "now": now,
        "chart": charts.durations(grid.runs, now),
        "longest": max(durations, default=None),
        "versions": versions,
        "triggers": list(detail.definition.get("triggers") or []),
        "alert_rules": reads.alert_rules(detail.definition),
        "can_write": who.may_write(detail.owner),
        "limit": limit,
        "default_limit": GRID_RUNS,
        "activity": activity,
        "filters": f,
        "counts": finding.counts_shown(counts),
        "searched_to": searched_to,
        "before": before,
        "statuses": list(RunStatus),
        "trigger_kinds": finding.TRIGGERS,
        "backfills": recent_backfills,
    }
    active = any(not is_terminal(r.status) for r in grid.runs)
    return Page("workflow", detail.name, context, active=active)


# -- a run ------------------------------------------------------------------------------------


@router.api_route("/runs/{run_id}", methods=PAGE_METHODS)
def run_page(request: Request, run_id: RunId) -> Response:
    """The DAG with statuses, the steps, the attempts' timeline, the run's alerts, params and
    outputs."""
    return serve(request, lambda who, engine: _run(who, engine, run_id))


def _run(who: session.Visitor, engine: Engine, run_id: int) -> Page:
    now = engine.clock.now()
    with engine.db.read() as conn:
        run = reads.run_detail(conn, run_id)
        owner = reads.run_owner(conn, run_id)
        steps = reads.run_steps(conn, run_id)
        attempts = reads.run_attempts(conn, run_id)
        children = reads.child_runs(conn, run_id).by_step
        parent = reads.parent_link(conn, run_id)
        compiled = engine.versions.for_run(
            conn, run.workflow_id, run.version, reads.run_body(conn, run_id)
        )
        origin = reads.run_ref(conn, run.restarted_from) if run.restarted_from else None
        restarts = reads.restarts_of(conn, run_id)
        alerts = reads.list_alerts(conn, run_id=run_id, limit=RUN_ALERTS)
        reused = (
            reads.reused_attempts(
                conn, run.restarted_from, [s.step_id for s in steps if not s.attempt_count]
            )
            if run.restarted_from
            else {}
        )
    active = not is_terminal(run.status) or any(
        not is_terminal(c.status) for kids in children.values() for c in kids
    )
    context = {
        "run": run,
        "steps": steps,
        "children": children,
        "parent": parent,
        "now": now,
        "duration": _took(run.started_at, run.ended_at, now),
        "dag": _dag(run_id, compiled, steps, reused),
        "gantt": charts.gantt(attempts, now, charts.step_spans(steps)),
        "has_failed": explain.has_failed(steps),
        "why": explain.why(run.error, steps),
        "failures": [s for s in steps if s.status in FAILURES][:20],
        "origin": origin,
        "restarts": restarts,
        "reused": reused,
        "run_active": run.status in RUN_ACTIVE,
        "can_write": who.may_write(owner),
        "alerts": alerts.items,
        "more_alerts": alerts.next_cursor is not None,
    }
    title = f"Run #{run.number} of {run.workflow_id}"
    return Page("run", title, context, active=active)


def _took(started: datetime | None, ended: datetime | None, now: datetime) -> float | None:
    return None if started is None else ((ended or now) - started).total_seconds()


def _dag(
    run_id: int,
    compiled: CompiledWorkflow,
    steps: list[reads.StepSummary],
    reused: Mapping[str, reads.ReusedAttempt],
) -> Markup | None:
    """The run's DAG (a foreach iteration's: its body's) with each step's status."""
    specs = tuple((s.id, tuple(s.upstreams)) for s in compiled.definition.steps)
    if len(specs) > dag.MAX_DRAWN:
        return None
    states = {s.step_id: s for s in steps}
    nodes = {}
    for step_id, _ in specs:
        state = states.get(step_id)
        kind = compiled.steps[step_id].type.value
        if state is None:  # a run stopped (or still) QUEUED has no step rows: nothing to open
            nodes[step_id] = dag.NodeInfo(status=NOT_CREATED, kind=kind)
            continue
        origin = reused.get(step_id)
        nodes[step_id] = dag.NodeInfo(
            status=state.status.value,
            kind=kind,
            detail=f"reused from run #{origin.run.number}"
            if origin
            else f"{state.attempt_count} attempt(s)",
            href=f"/runs/{run_id}/steps/{step_id}",
        )
    failed = sum(1 for s in steps if s.status in FAILURES)
    label = f"DAG of run {run_id}: {len(specs)} steps, {failed} failed"
    return dag.render(dag.layout(specs), nodes, label)


# -- a step and its attempts ---------------------------------------------------------------------


@router.api_route("/runs/{run_id}/steps/{step_id}", methods=PAGE_METHODS)
def step_page(request: Request, run_id: RunId, step_id: StepId) -> Response:
    """A step with its attempts and the log of the latest one."""
    return serve(request, lambda who, engine: _step(who, engine, run_id, step_id, None))


@router.api_route("/runs/{run_id}/steps/{step_id}/attempts/{number}", methods=PAGE_METHODS)
def attempt_page(request: Request, run_id: RunId, step_id: StepId, number: Attempt) -> Response:
    """A step with its attempts and the log of attempt ``number``, followed while it runs."""
    return serve(request, lambda who, engine: _step(who, engine, run_id, step_id, number))


def _step(
    who: session.Visitor, engine: Engine, run_id: int, step_id: str, number: int | None
) -> Page:
    now = engine.clock.now()
    with engine.db.read() as conn:
        run = reads.run_detail(conn, run_id)
        owner = reads.run_owner(conn, run_id)
        step = reads.step_detail(conn, run_id, step_id)
        chosen = number or (step.attempts[-1].number if step.attempts else None)
        log = reads.attempt_log(conn, run_id, step_id, chosen) if chosen else None
        reused = (
            reads.reused_attempts(conn, run.restarted_from, [step_id]).get(step_id)
            if run.restarted_from and not step.attempts
            else None
        )
    attempt = next((a for a in step.attempts if a.number == chosen), None)
    context: dict[str, Any] = {
        "run": run,
        "step": step,
        "attempt": attempt,
        "reused": reused,
        "now": now,
        "run_active": run.status in RUN_ACTIVE,
        "can_write": who.may_write(owner),
        "refresh": False,  # the log follows by itself; a refresh would reset it
    }
    if log is not None and attempt is not None:
        context |= logs.viewer_context(log, run_id, step_id, attempt.number)
    title = f"{step_id} · run #{run.number} of {run.workflow_id}"
    return Page(
        "step", title, context, active=attempt is not None and not is_terminal(attempt.status)
    )
