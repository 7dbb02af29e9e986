"""The ``python`` step type: calls ``python.callable`` in a process of its own.

``python: {callable: "package.module:function", kwargs: {...}}``; after the colon a dotted path
is allowed (``pkg.mod:Class.method``).

Why a child process: a callable running inside the worker could read everything the worker
has — its environment with the platform's database and broker URLs, every connection's
password, its memory — and could not be stopped. So the runtime starts
``<the worker's interpreter> -u -c <python_child.py> REQUEST`` in the project folder (which is
therefore first on ``sys.path``, so project modules import), with the step's clean environment
(``step_env.py``), in a session of its own; ``python_child.py`` imports the callable (modules
are imported afresh by every attempt), calls it and writes its answer to a file.

Calling:

* The callable is called with the rendered ``kwargs`` (JSON values). If it declares a parameter
  named ``maestro_context`` (by name; a bare ``**kwargs`` does not count) it also receives
  ``{"run_id", "step_id", "attempt", "env", "output_path"}``: ``env`` is the step's environment
  (``ctx.env``: its declared ``env`` and ``MAESTRO_*`` variables) and ``output_path`` the
  ``$MAESTRO_OUTPUT`` file as a string.
* Outputs: anything the callable wrote to ``output_path`` (read as for shell steps), updated
  with its return value: a dict is merged in, ``None`` adds nothing, any other value becomes
  ``{"result": value}``. Outputs must be JSON-serializable (a tuple becomes a list), or the
  attempt fails.
* An exception (or ``sys.exit``) fails the attempt with ``"<type>: <message>"``; the traceback
  goes to the attempt log. A callable that cannot be found, imported or called with these
  kwargs is a permanent failure: retrying cannot fix it. A child that dies without answering
  fails the attempt with its exit code or signal.
* Everything the process writes to stdout and stderr (its children's too) goes to the attempt
  log, the passwords of the connections it was given masked.
* Stop and timeout: as for shell steps, SIGTERM to the process group, SIGKILL after
  ``kill_grace``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from workers.runtimes import python_child
from workers.runtimes.base import Outcome, RuntimeContext, exit_status
from workers.runtimes.outputs import OutputError, read_outputs
from workers.runtimes.shell import start, supervise
from workers.runtimes.step_env import StepEnvError, step_environment

CONTEXT_KWARG = python_child.CONTEXT_KWARG
_CHILD_SOURCE = Path(python_child.__file__).read_text(encoding="utf-8")
_PUMP_DRAIN = 2.0


class PythonRuntime:
    """Calls a Python callable in a child process, its output sent to the attempt log."""

    def run(self, ctx: RuntimeContext) -> Outcome:
        spec = ctx.settings.get("callable")
        try:
            step_env = step_environment(ctx)
            request = _write_request(ctx)
        except (StepEnvError, _RequestError) as exc:
            return Outcome.fail(str(exc), permanent=True)
        if ctx.cancel.is_set():
            return Outcome.fail("cancelled")
        _write(ctx.log, f"[maestro] python {spec}\n")
        argv = [sys.executable, "-u", "-c", _CHILD_SOURCE, str(request)]
        try:
            proc, pump = start(
                argv, ctx.project_dir, step_env.env, ctx.log, secrets=step_env.secrets
            )
        except OSError as exc:
            return Outcome.fail(f"cannot start python in {ctx.project_dir}: {exc}")
        cancelled = supervise(proc, ctx)
        if pump is not None:
            pump.join(_PUMP_DRAIN)
        if cancelled:
            return Outcome.fail("cancelled", exit_code=proc.returncode)
        return _outcome(_read_answer(ctx), proc.returncode, ctx.output_path)


class _RequestError(ValueError):
    """The call cannot be described to the child (kwargs that are not JSON values)."""


def _write_request(ctx: RuntimeContext) -> Path:
    ctx.work_dir.mkdir(parents=True, exist_ok=True)
    request = {
        "callable": ctx.settings.get("callable"),
        "kwargs": ctx.settings.get("kwargs") or {},
        "context": {
            "run_id": ctx.run_id,
            "step_id": ctx.step_id,
            "attempt": ctx.attempt_number,
            "env": dict(ctx.env),
            "output_path": str(ctx.output_path),
        },
        "project_dir": str(ctx.project_dir.resolve()),
        "result": str(_answer_path(ctx)),
    }
    try:
        text = json.dumps(request, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise _RequestError(f"python.kwargs must be JSON values: {exc}") from None
    path = ctx.work_dir / "python-request.json"
    path.write_text(text, encoding="utf-8")
    return path


def _answer_path(ctx: RuntimeContext) -> Path:
    return ctx.work_dir.absolute() / "python-answer.json"


def _read_answer(ctx: RuntimeContext) -> dict[str, Any] | None:
    try:
        answer = json.loads(_answer_path(ctx).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return answer if isinstance(answer, dict) else None


def _outcome(answer: dict[str, Any] | None, returncode: int, output_path: Path) -> Outcome:
    if answer is None:
        return Outcome.fail(_died(returncode), exit_code=returncode)
    if not answer.get("ok"):
        error = str(answer.get("error"))
        return Outcome.fail(error, permanent=bool(answer.get("permanent")))
    try:
        outputs = read_outputs(output_path)
    except OutputError as exc:
        return Outcome.fail(f"invalid $MAESTRO_OUTPUT: {exc}")
    result = answer.get("result")
    if isinstance(result, dict):
        outputs.update(result)
    elif result is not None:
        outputs["result"] = result
    return Outcome.ok(outputs)


def _died(returncode: int) -> str:
    if returncode >= 0:
        return f"the python process {exit_status(returncode)} without an answer"
    return f"the python process was {exit_status(returncode)}"


def _write(log: Any, text: str) -> None:
    log.write(text.encode("utf-8", "backslashreplace"))
    log.flush()
