"""The ``notebook`` step type: runs a Jupyter notebook with papermill, in a process of its own.

``notebook: {path, parameters: {...}, kernel: python3, timeout: 10m}``:

* ``path`` resolves against the project folder; the notebook runs there (its working folder).
  A missing notebook is a permanent failure.
* ``parameters`` (rendered like every setting) are injected by papermill after the cell tagged
  ``parameters`` (or at the top when there is none).
* Isolation, as for python steps: ``<the worker's interpreter> -u -c <notebook_child.py>
  REQUEST`` in a session of its own, with the step's clean environment (``step_env.py``: the
  step's ``env``, ``MAESTRO_*``, ``$MAESTRO_OUTPUT``, the connections it names), plus
  ``JUPYTER_RUNTIME_DIR`` and ``IPYTHONDIR`` in the attempt's scratch folder so that kernels
  write nothing under the worker's home. The kernel papermill starts inherits that environment.
* The executed notebook is kept per attempt next to the attempt log
  (``logs/<run>/<step>/<attempt>.ipynb``; papermill saves it after every cell, so a failed or
  stopped attempt keeps what ran). Its path is the output ``output_path``; the other outputs are
  what the notebook wrote to ``$MAESTRO_OUTPUT`` (read as for shell steps).
* A cell that raises fails the attempt naming the cell — its number in the source notebook,
  from 1 (papermill's injected cell not counted), and its first line — and the error:
  ``cell 3 ('x = 1 / 0') failed: ZeroDivisionError: division by zero``. Cell outputs go to the
  attempt log.
* ``timeout`` (a duration, or a template rendering to one) bounds the whole execution: the
  attempt fails with ``notebook timed out after 30s``. The step's own ``timeout`` and stop work
  as for every step. Either way the process group gets SIGTERM, SIGKILL after ``kill_grace``;
  the child kills the kernel (which papermill starts in a session of its own) on SIGTERM.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

from workers.runtimes.base import Outcome, RuntimeContext, exit_status
from workers.runtimes.outputs import OutputError, read_outputs
from workers.runtimes.shell import start, supervise
from workers.runtimes.sleep import duration_seconds
from workers.runtimes.step_env import StepEnvError, step_environment

_CHILD_SOURCE = (Path(__file__).parent / "notebook_child.py").read_text(encoding="utf-8")
_PUMP_DRAIN = 2.0
_WATCH_POLL = 0.05


class _SettingsError(ValueError):
    """The step's settings cannot work (a permanent failure)."""


@dataclasses.dataclass
class _Deadline:
    """Sets ``inner`` when ``outer`` (the attempt's cancel) is set or ``seconds`` have passed."""

    outer: threading.Event
    inner: threading.Event
    seconds: float | None
    done: threading.Event = dataclasses.field(default_factory=threading.Event)
    expired: bool = False

    def watch(self) -> None:
        end = None if self.seconds is None else time.monotonic() + self.seconds
        while not self.done.is_set():
            if self.outer.is_set():
                self.inner.set()
                return
            if end is not None and time.monotonic() >= end:
                self.expired = True
                self.inner.set()
                return
            self.done.wait(_WATCH_POLL)


class NotebookRuntime:
    """Runs a notebook with papermill in a child process; the executed copy is kept."""

    def run(self, ctx: RuntimeContext) -> Outcome:
        try:
            notebook, timeout = _read_settings(ctx)
            step_env = step_environment(ctx, extra=_jupyter_dirs(ctx.work_dir))
        except (_SettingsError, StepEnvError) as exc:
            return Outcome.fail(str(exc), permanent=True)
        if ctx.cancel.is_set():
            return Outcome.fail("cancelled")
        executed = executed_path(ctx)
        executed.parent.mkdir(parents=True, exist_ok=True)
        request = _write_request(ctx, notebook, executed)
        _write(ctx.log, f"[maestro] notebook {notebook} -> {executed}\n")
        argv = [sys.executable, "-u", "-c", _CHILD_SOURCE, str(request)]
        deadline = _Deadline(ctx.cancel, threading.Event(), timeout)
        watcher = threading.Thread(target=deadline.watch, name="notebook-timeout", daemon=True)
        try:
            proc, pump = start(
                argv, ctx.project_dir, step_env.env, ctx.log, secrets=step_env.secrets
            )
        except OSError as exc:
            return Outcome.fail(f"cannot start python in {ctx.project_dir}: {exc}")
        watcher.start()
        try:
            stopped = supervise(proc, dataclasses.replace(ctx, cancel=deadline.inner))
        finally:
            deadline.done.set()
            watcher.join()
        if pump is not None:
            pump.join(_PUMP_DRAIN)
        if stopped and deadline.expired and not ctx.cancel.is_set():
            return Outcome.fail(f"notebook timed out after {timeout:g}s", exit_code=proc.returncode)
        if stopped:
            return Outcome.fail("cancelled", exit_code=proc.returncode)
        return _outcome(ctx, executed, proc.returncode)


def executed_path(ctx: RuntimeContext) -> Path:
    """Where the executed notebook is kept: beside the attempt log (``<attempt>.ipynb``)."""
    log_path = ctx.log_path
    if log_path is None:
        name = getattr(ctx.log, "name", None)
        log_path = Path(name) if isinstance(name, str) else None
    if log_path is None:  # no log file to sit beside: the scratch folder (not kept)
        return ctx.work_dir.absolute() / f"{ctx.attempt_number}.ipynb"
    return log_path.absolute().with_suffix(".ipynb")


def _read_settings(ctx: RuntimeContext) -> tuple[Path, float | None]:
    settings = ctx.settings
    path = settings.get("path")
    if not isinstance(path, str) or not path.strip():
        raise _SettingsError("notebook.path must be a non-empty string")
    notebook = Path(path)
    if not notebook.is_absolute():
        notebook = ctx.project_dir / notebook
    if not notebook.is_file():
        raise _SettingsError(f"notebook {notebook} does not exist")
    parameters = settings.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise _SettingsError(f"notebook.parameters must be a map, got {parameters!r}")
    kernel = settings.get("kernel") or "python3"
    if not isinstance(kernel, str):
        raise _SettingsError(f"notebook.kernel must be a kernel name, got {kernel!r}")
    raw_timeout = settings.get("timeout")
    if raw_timeout is None:
        return notebook, None
    try:
        timeout = duration_seconds(raw_timeout, "notebook.timeout")
    except ValueError as exc:
        raise _SettingsError(str(exc)) from None
    if timeout <= 0:
        raise _SettingsError(f"notebook.timeout must be longer than 0s, got {raw_timeout!r}")
    return notebook, timeout


def _jupyter_dirs(work_dir: Path) -> dict[str, str]:
    base = work_dir.absolute()
    return {
        "JUPYTER_RUNTIME_DIR": str(base / "jupyter-runtime"),
        "IPYTHONDIR": str(base / "ipython"),
    }


def _write_request(ctx: RuntimeContext, notebook: Path, executed: Path) -> Path:
    ctx.work_dir.mkdir(parents=True, exist_ok=True)
    request = {
        "input": str(notebook.absolute()),
        "output": str(executed),
        "parameters": ctx.settings.get("parameters") or {},
        "kernel": ctx.settings.get("kernel") or "python3",
        "cwd": str(ctx.project_dir.absolute()),
        "result": str(_answer_path(ctx)),
    }
    path = ctx.work_dir / "notebook-request.json"
    path.write_text(json.dumps(request, default=str), encoding="utf-8")
    return path


def _answer_path(ctx: RuntimeContext) -> Path:
    return ctx.work_dir.absolute() / "notebook-answer.json"


def _outcome(ctx: RuntimeContext, executed: Path, returncode: int) -> Outcome:
    try:
        answer: Any = json.loads(_answer_path(ctx).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        answer = None
    if not isinstance(answer, dict):
        return Outcome.fail(
            f"the notebook process {exit_status(returncode)} without an answer",
            exit_code=returncode,
        )
    if not answer.get("ok"):
        return Outcome.fail(str(answer.get("error")), permanent=bool(answer.get("permanent")))
    try:
        outputs = read_outputs(ctx.output_path)
    except OutputError as exc:
        return Outcome.fail(f"invalid $MAESTRO_OUTPUT: {exc}")
    outputs["output_path"] = str(executed)
    return Outcome.ok(outputs, exit_code=returncode)


def _write(log: Any, text: str) -> None:
    log.write(text.encode("utf-8", "backslashreplace"))
    log.flush()
