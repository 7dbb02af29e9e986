"""The buttons: start, pause and resume a workflow; stop and restart a run; retry and skip a
step; send a FAILED alert again; and logging in and out.

Each is a POST of an HTML form (``application/x-www-form-urlencoded``, parsed here: no
multipart dependency) checked for its CSRF value, then for write scope on the workflow's owner
— the same rule as the API — and carried out by the engine's own functions, with the caller's
name as the actor of the events. Success redirects (303) to the page that shows the result;
a refused action renders the reason with the API's status (403, 404, 409, 422).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlsplit

from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from api.errors import Forbidden, Unprocessable
from api.throttle import client_of, throttle_of
from api.web import explain, session
from api.web.pages import login_required, workflow_view
from api.web.render import PAGE_METHODS, Page, error_page, render, status_of
from maestro import reads
from maestro.definition.models import STEP_ID_PATTERN
from maestro.engine import actions
from maestro.engine.actions import RestartMode
from maestro.engine.alert_timers import retry_alert
from maestro.engine.core import Engine
from maestro.engine.versions import set_paused
from maestro.errors import Conflict, MaestroError

router = APIRouter(include_in_schema=False)

WorkflowId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]
RunId = Annotated[int, Path(ge=1, le=2**63 - 1)]
StepId = Annotated[str, Path(pattern=STEP_ID_PATTERN)]
AlertId = Annotated[int, Path(ge=1, le=2**63 - 1)]
#: the largest form accepted (the params of a run included)
MAX_FORM = 64 * 1024

Form = dict[str, str]
#: the ``mode`` field of a restart form
RESTART_MODES: dict[str, RestartMode] = {
    "failed": "failed",
    "beginning": "beginning",
    "step": "step",
}
#: does the action and returns where to go next
Action = Callable[[session.Visitor, Engine, Form], str]
#: the page that shows why an action was refused (instead of the plain error page)
Refused = Callable[[session.Visitor, Engine, Form, MaestroError], Page]


async def _form(request: Request) -> Form | None:
    body = await request.body()
    if len(body) > MAX_FORM:
        return None
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        return None
    return dict(pairs)


async def perform(request: Request, action: Action, refused: Refused | None = None) -> Response:
    form = await _form(request)
    if form is None:
        return Response("malformed form", status_code=400, media_type="text/plain")
    return await run_in_threadpool(_perform, request, form, action, refused)


def _perform(request: Request, form: Form, action: Action, refused: Refused | None) -> Response:
    who = session.visitor(request)
    if who is None:
        return login_required(request)
    if not session.csrf_ok(request, form.get(session.CSRF_FIELD)):
        message = "This form has expired or comes from another site: reload the page and retry."
        return render(request, who, error_page(message, 403))
    engine = request.app.state.engine
    try:
        target = action(who, engine, form)
    except MaestroError as exc:
        if refused is not None:
            try:
                return render(request, who, refused(who, engine, form, exc))
            except MaestroError:
                pass  # the page to show it on is gone too: the plain error page
        return render(request, who, error_page(exc.message, status_of(exc), _back(request)))
    return RedirectResponse(target, status_code=303)


def _back(request: Request) -> str:
    """The page the form was on (its Referer, when that is this site)."""
    came_from = urlsplit(request.headers.get("referer", ""))
    if came_from.netloc != request.headers.get("host"):
        return "/"
    return session.safe_next(came_from.path + (f"?{came_from.query}" if came_from.query else ""))


def _may_write(who: session.Visitor, owner: str) -> str:
    """The actor name of a caller allowed to act on ``owner``'s workflows (else 403)."""
    if who.principal is None or not who.may_write(owner):
        name = who.principal.name if who.principal else "nobody"
        raise Forbidden(f"{name!r} may not act on workflows of {owner!r}: this needs write scope")
    return who.principal.name


def _workflow_actor(who: session.Visitor, engine: Engine, workflow_id: str) -> str:
    with engine.db.read() as conn:
        return _may_write(who, reads.workflow_owner(conn, workflow_id))


def _run_actor(who: session.Visitor, engine: Engine, run_id: int) -> str:
    with engine.db.read() as conn:
        return _may_write(who, reads.run_owner(conn, run_id))


def _params(text: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        params = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Unprocessable(f"params are not valid JSON: {exc.msg} (line {exc.lineno})") from None
    if not isinstance(params, dict):
        raise Unprocessable('params must be a JSON object, like {"who": "Ada"}')
    return params


# -- workflows ---------------------------------------------------------------------------------


@router.post("/workflows/{workflow_id}/start")
async def start(request: Request, workflow_id: WorkflowId) -> Response:
    """Start a run; params that are not JSON, not an object or not the workflow's come back
    on the workflow page, next to the text as typed (422)."""

    def act(who: session.Visitor, engine: Engine, form: Form) -> str:
        actor = _workflow_actor(who, engine, workflow_id)
        params = _params(form.get("params", ""))
        started = actions.start_run_now(engine, workflow_id, actor, params=params)
        return f"/runs/{started.run_id}"

    def refused(who: session.Visitor, engine: Engine, form: Form, exc: MaestroError) -> Page:
        if status_of(exc) != 422:
            return error_page(exc.message, status_of(exc))
        page = workflow_view(who, engine, workflow_id)
        page.context |= {
            "params_text": form.get("params", ""),
            "params_error": exc.message,
            "refresh": False,  # this answers POST …/start: nothing to poll at this address
        }
        page.status = 422
        return page

    return await perform(request, act, refused)


@router.post("/workflows/{workflow_id}/pause")
async def pause(request: Request, workflow_id: WorkflowId) -> Response:
    return await perform(request, _pausing(workflow_id, True))


@router.post("/workflows/{workflow_id}/resume")
async def resume(request: Request, workflow_id: WorkflowId) -> Response:
    return await perform(request, _pausing(workflow_id, False))


def _pausing(workflow_id: str, paused: bool) -> Action:
    def act(who: session.Visitor, engine: Engine, form: Form) -> str:
        set_paused(engine, workflow_id, paused, _workflow_actor(who, engine, workflow_id))
        return f"/workflows/{workflow_id}"

    return act


# -- runs and steps ----------------------------------------------------------------------------


@router.post("/runs/{run_id}/stop")
async def stop(request: Request, run_id: RunId) -> Response:
    def act(who: session.Visitor, engine: Engine, form: Form) -> str:
        actions.stop_run(engine, run_id, _run_actor(who, engine, run_id))
        return f"/runs/{run_id}"

    return await perform(request, act)


@router.post("/runs/{run_id}/restart")
async def restart(request: Request, run_id: RunId) -> Response:
    """A new run that reruns the failed steps (``mode=failed``, the default), every step
    (``mode=beginning``), or ``step_id`` and every step after it (``mode=step``: "Restart
    from a step", and "Retry" of a step once its run has ended)."""

    def act(who: session.Visitor, engine: Engine, form: Form) -> str:
        mode = RESTART_MODES.get(form.get("mode", "failed"))
        if mode is None:
            raise Unprocessable(
                f"unknown restart mode {form['mode']!r}: use failed, beginning or step"
            )
        step_id = form.get("step_id") or None
        if mode == "step" and step_id is None:
            raise Unprocessable("restart from a step needs the step: choose one")
        actor = _run_actor(who, engine, run_id)
        if mode == "failed":
            _require_a_failure(engine, run_id)
        new_id = actions.restart_run(engine, run_id, actor, mode=mode, step_id=step_id)
        return f"/runs/{new_id}"

    return await perform(request, act)


def _require_a_failure(engine: Engine, run_id: int) -> None:
    """Refuse "restart from failed" for a run with no failed step: the engine would rerun its
    SKIPPED steps (which count as not ok there) in a new run that changes nothing."""
    with engine.db.read() as conn:
        steps = reads.run_steps(conn, run_id)
    if not explain.has_failed(steps):
        raise Conflict(f"run {run_id} has no failed step: restart it from the beginning instead")


@router.post("/runs/{run_id}/steps/{step_id}/retry")
async def retry(request: Request, run_id: RunId, step_id: StepId) -> Response:
    return await perform(request, _step_action(actions.retry_step, run_id, step_id))


@router.post("/runs/{run_id}/steps/{step_id}/skip")
async def skip(request: Request, run_id: RunId, step_id: StepId) -> Response:
    return await perform(request, _step_action(actions.skip_step, run_id, step_id))


def _step_action(do: Callable[[Engine, int, str, str], None], run_id: int, step_id: str) -> Action:
    def act(who: session.Visitor, engine: Engine, form: Form) -> str:
        do(engine, run_id, step_id, _run_actor(who, engine, run_id))
        return f"/runs/{run_id}"

    return act


# -- alerts ------------------------------------------------------------------------------------


@router.post("/alerts/{alert_id}/retry")
async def send_alert_again(request: Request, alert_id: AlertId) -> Response:
    """Send a FAILED alert again (the run page's button); back to the run, at the alert."""

    def act(who: session.Visitor, engine: Engine, form: Form) -> str:
        with engine.db.read() as conn:
            run_id = reads.alert(conn, alert_id).run_id

        def may_act_for(owner: str) -> None:
            _may_write(who, owner)

        actor = who.principal.name if who.principal else "nobody"
        retry_alert(engine, alert_id, actor, may_act_for)
        return f"/runs/{run_id}#alert-{alert_id}"

    return await perform(request, act)


# -- logging in and out --------------------------------------------------------------------------


@router.api_route("/login", methods=PAGE_METHODS)
def login_page(request: Request, next: str = "/") -> Response:
    """The form that takes an API token (nothing to do when authentication is off)."""
    if not request.app.state.auth:
        return RedirectResponse(session.safe_next(next), status_code=303)
    return _login_form(request, session.safe_next(next), None, 200)


def _login_form(request: Request, target: str, error: str | None, status: int) -> Response:
    page = Page("login", "Log in", {"next": target, "error": error}, status=status)
    return render(request, session.guest(request), page)


@router.post("/login")
async def login(request: Request) -> Response:
    form = await _form(request)
    if form is None:
        return Response("malformed form", status_code=400, media_type="text/plain")
    return await run_in_threadpool(_login, request, form)


def _login(request: Request, form: Form) -> Response:
    target = session.safe_next(form.get("next"))
    if not request.app.state.auth:
        return RedirectResponse(target, status_code=303)
    if not session.csrf_ok(request, form.get(session.CSRF_FIELD)):
        return _login_form(request, target, "The form expired: please try again.", 403)
    throttle, client = throttle_of(request), client_of(request)
    wait = throttle.retry_after(client)
    if wait is not None:  # backed off: not even a right token is checked
        message = f"Too many failed logins from your address: try again in {wait} s."
        refused = _login_form(request, target, message, 429)
        refused.headers["Retry-After"] = str(wait)
        return refused
    session_id = session.start_session(request.app.state.engine, form.get("token", "").strip())
    if session_id is None:
        throttle.failed(client)
        return _login_form(request, target, "This token is unknown or revoked.", 401)
    throttle.succeeded(client)
    response = RedirectResponse(target, status_code=303)
    session.log_in(response, request, session_id)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    form = await _form(request)
    if form is None or not session.csrf_ok(request, form.get(session.CSRF_FIELD)):
        return Response(
            "the form expired: reload the page", status_code=403, media_type="text/plain"
        )
    response = RedirectResponse("/login", status_code=303)
    await run_in_threadpool(session.log_out, response, request)  # revokes it in the store
    return response
