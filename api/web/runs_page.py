"""The runs page, ``/runs``: runs of every workflow (or of one), newest first, found by status,
trigger, creation date and params text, with counts per status (``api.web.finding``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.web.finding import TRIGGERS, Filters, FiltersDep, WorkflowFilter, check, counts_shown
from api.web.pages import Cursor, serve
from api.web.render import PAGE_METHODS, Page
from api.web.status import is_terminal
from maestro.engine.core import Engine
from maestro.reads.run_search import search_runs
from maestro.states import RunStatus

router = APIRouter(include_in_schema=False)
#: runs per page
RUNS_PAGE = 50


@router.api_route("/runs", methods=PAGE_METHODS)
def runs_page(
    request: Request,
    f: FiltersDep,
    workflow: WorkflowFilter = None,
    before: Cursor = None,
) -> Response:
    """Runs of every workflow, newest first, by status, trigger, date and params text."""
    return serve(request, lambda who, engine: _runs(engine, f, workflow or None, before))


def _runs(engine: Engine, f: Filters, workflow: str | None, before: int | None) -> Page:
    check(f)
    with engine.db.read() as conn:
        found = search_runs(
            conn, f.run_filter(workflow), before=before, limit=RUNS_PAGE, counts=True
        )
    context = {
        "found": found,
        "filters": f,
        "counts": counts_shown(found.counts),
        "workflow": workflow or "",
        "before": before,
        "now": engine.clock.now(),
        "trigger_kinds": TRIGGERS,
        "statuses": list(RunStatus),
        "action": "/runs",
        "keep": {"workflow": workflow} if workflow else {},
    }
    active = any(not is_terminal(r.status) for r in found.runs)
    return Page("runs", "Runs", context, active=active)
