"""Backfills in the web view: start one from the workflow page (a range of logical dates,
the concurrency, params), watch it on its own page (counts, progress, its runs, refreshed like
the other pages), and cancel it.

The form is the API's ``POST /workflows/{id}/backfills`` (the engine's ``create_backfill``):
a bad value — a date that is not one, a range that ends before it starts, a concurrency out of
1..1000, params that are not a JSON object or not the workflow's, a range with no cron tick —
comes back on the workflow page beside the field, with everything as typed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from api.errors import Unprocessable
from api.schemas.dates import to_utc
from api.web import session
from api.web.actions import Form, WorkflowId, _params, _workflow_actor, perform
from api.web.pages import serve, workflow_view
from api.web.render import PAGE_METHODS, Page, error_page, status_of
from maestro import reads
from maestro.engine import backfills
from maestro.engine.core import Engine
from maestro.errors import MaestroError, ParamError
from maestro.reads.backfills import backfill, backfill_runs
from maestro.states import BackfillStatus

router = APIRouter(include_in_schema=False)

BackfillId = Annotated[int, Path(ge=1, le=2**62)]
Cursor = Annotated[int | None, Query(ge=1, le=2**63 - 1)]
#: the fields of the form, as typed
FIELDS = ("start", "end", "max_concurrency", "params")


class FieldError(Unprocessable):
    """A value of the backfill form is wrong; ``field`` names it (None: the whole form)."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field


# -- the page --------------------------------------------------------------------------------


@router.api_route("/workflows/{workflow_id}/backfills/{backfill_id}", methods=PAGE_METHODS)
def backfill_page(
    request: Request, workflow_id: WorkflowId, backfill_id: BackfillId, after: Cursor = None
) -> Response:
    """How far the backfill got (done, running, queued), and its runs, oldest tick first."""
    return serve(
        request, lambda who, engine: _backfill(who, engine, workflow_id, backfill_id, after)
    )


def _backfill(
    who: session.Visitor, engine: Engine, workflow_id: str, backfill_id: int, after: int | None
) -> Page:
    with engine.db.read() as conn:
        found = backfill(conn, workflow_id, backfill_id)
        runs, more = backfill_runs(conn, backfill_id, after)
        owner = reads.workflow_owner(conn, workflow_id)
    progress = found.progress
    context: dict[str, Any] = {
        "bf": found,
        "runs": runs,
        "more": more,
        "after": after,
        "now": engine.clock.now(),
        "can_write": who.may_write(owner),
    }
    active = found.status is BackfillStatus.RUNNING or progress.running + progress.queued > 0
    return Page("backfill", f"Backfill #{backfill_id} of {workflow_id}", context, active=active)


# -- the buttons -----------------------------------------------------------------------------


@router.post("/workflows/{workflow_id}/backfills")
async def create(request: Request, workflow_id: WorkflowId) -> Response:
    """A new backfill; to its page. A bad value comes back on the workflow page."""

    def act(who: session.Visitor, engine: Engine, form: Form) -> str:
        actor = _workflow_actor(who, engine, workflow_id)
        start, end = _moment(form, "start", "From"), _moment(form, "end", "To")
        if end < start:
            raise FieldError("end", f"The range ends ({end:%Y-%m-%d %H:%M}) before it starts.")
        try:
            params = _params(form.get("params", ""))
        except Unprocessable as exc:
            raise FieldError("params", exc.message) from None
        try:
            backfill_id, _ = backfills.create_backfill(
                engine,
                workflow_id,
                start,
                end,
                max_concurrency=_concurrency(form.get("max_concurrency", "")),
                actor=actor,
                params=params,
            )
        except ParamError as exc:
            raise FieldError("params", exc.message) from None
        return f"/workflows/{workflow_id}/backfills/{backfill_id}"

    def refused(who: session.Visitor, engine: Engine, form: Form, exc: MaestroError) -> Page:
        status = status_of(exc)
        if status in (403, 404):
            return error_page(exc.message, status)
        page = workflow_view(who, engine, workflow_id)
        if not any(t.get("cron") for t in page.context["triggers"]):
            return error_page(exc.message, status)  # no form to show it in: no cron trigger
        page.context |= {
            "backfill_form": {name: form.get(name, "") for name in FIELDS},
            "backfill_error": exc.message,
            "backfill_field": exc.field if isinstance(exc, FieldError) else None,
            "refresh": False,  # this answers POST …/backfills: nothing to poll at this address
        }
        page.status = status
        return page

    return await perform(request, act, refused)


@router.post("/workflows/{workflow_id}/backfills/{backfill_id}/cancel")
async def cancel(request: Request, workflow_id: WorkflowId, backfill_id: BackfillId) -> Response:
    """Cancel a RUNNING backfill: its queued runs are stopped, running ones finish."""

    def act(who: session.Visitor, engine: Engine, form: Form) -> str:
        actor = _workflow_actor(who, engine, workflow_id)
        with engine.db.read() as conn:
            backfill(conn, workflow_id, backfill_id)  # 404 unless it is this workflow's
        backfills.cancel_backfill(engine, backfill_id, actor)
        return f"/workflows/{workflow_id}/backfills/{backfill_id}"

    return await perform(request, act)


def _moment(form: Form, field: str, label: str) -> datetime:
    """An instant of the form: ISO 8601 (``datetime-local`` sends ``2026-01-01T03:00``), UTC
    unless it has an offset."""
    text = form.get(field, "").strip()
    example = "like 2026-01-01T03:00 (UTC)"
    if not text:
        raise FieldError(field, f"{label}: give a date and time, {example}.")
    try:
        return to_utc(datetime.fromisoformat(text))
    except ValueError as exc:
        reason = str(exc) if "out of range" in str(exc) else f"{text!r} is no date and time"
        raise FieldError(field, f"{label}: {reason}; give one {example}.") from None


def _concurrency(text: str) -> int | None:
    """At most this many of its runs at once; empty: the run strategy's."""
    if not text.strip():
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= backfills.MAX_CONCURRENCY:
        raise FieldError(
            "max_concurrency",
            f"Concurrency: {text.strip()!r} is not a whole number from 1 to "
            f"{backfills.MAX_CONCURRENCY} (empty: the run strategy's).",
        )
    return value
