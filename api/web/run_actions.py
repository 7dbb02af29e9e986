"""The run page's other buttons: pause, resume and kill a run; stop one step.

The same machinery as ``actions.py`` (a CSRF-checked form, write scope on the workflow's owner
checked again here, the engine's own action with the caller as the actor, a 303 back to the
run). Kill and stop throw work away: their buttons sit behind a confirmation in the page
(``_confirm.html``: a disclosure holding the real form, no script needed). Restarting from a
chosen step, and retrying a step once the run has ended (a restart from that step), go through
``actions.restart``.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.web import session
from api.web.actions import Action, Form, RunId, StepId, _run_actor, perform
from maestro.engine import actions
from maestro.engine.core import Engine

router = APIRouter(include_in_schema=False)


@router.post("/runs/{run_id}/pause")
async def pause(request: Request, run_id: RunId) -> Response:
    """Start no new step (running ones finish): a RUNNING run only."""
    return await perform(request, _run_action(actions.pause_run, run_id))


@router.post("/runs/{run_id}/resume")
async def resume(request: Request, run_id: RunId) -> Response:
    """Release a PAUSED run."""
    return await perform(request, _run_action(actions.resume_run, run_id))


@router.post("/runs/{run_id}/kill")
async def kill(request: Request, run_id: RunId) -> Response:
    """Kill the running attempts at once; the run ends FAILED."""
    return await perform(request, _run_action(actions.kill_run, run_id))


@router.post("/runs/{run_id}/steps/{step_id}/stop")
async def stop_step(request: Request, run_id: RunId, step_id: StepId) -> Response:
    """Stop one step of an active run: its attempt is terminated, the step ends STOPPED."""

    def act(who: session.Visitor, engine: Engine, form: Form) -> str:
        actions.stop_step(engine, run_id, step_id, _run_actor(who, engine, run_id))
        return f"/runs/{run_id}#step-{step_id}"

    return await perform(request, act)


def _run_action(do: Callable[[Engine, int, str], None], run_id: int) -> Action:
    def act(who: session.Visitor, engine: Engine, form: Form) -> str:
        do(engine, run_id, _run_actor(who, engine, run_id))
        return f"/runs/{run_id}"

    return act
