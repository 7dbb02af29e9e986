"""The embedded default: ``maestro run``, and the in-process engine it wires up.

Exit codes of ``maestro run``: 0 the run SUCCEEDED, 1 it ended otherwise, 2 bad input (file,
definition, params), 130 interrupted (the run is stopped and its processes killed).
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text
from sqlalchemy import Connection, select

from maestro.alerts.sender import AlertSender
from maestro.cli.common import (
    STATUS_STYLE,
    FileArg,
    app,
    err,
    fail,
    json_errors,
    open_store,
    parse_params,
    read_definition,
)
from maestro.cli.logs import LinePrinter, LogFollower, tail
from maestro.definition import Step, WorkflowDefinition
from maestro.engine.actions import start_run_now
from maestro.engine.advance import RunAdvance
from maestro.engine.catalog import check_alert_connections
from maestro.engine.core import Engine
from maestro.engine.scheduler import Scheduler
from maestro.engine.workflows import submit
from maestro.errors import DefinitionError, MaestroError, ParamError
from maestro.reads import RunView, run_status, run_view, running_steps, step_counts
from maestro.settings import Settings, load_settings
from maestro.states import RUN_TERMINAL, RunStatus, StepStatus
from maestro.store import tables
from maestro.store.records import load_run
from maestro.wording import plural
from workers.executor import AttemptExecutor
from workers.local import LocalDispatcher


@dataclass
class Embedded:
    """Store, engine, local workers and scheduler of one process."""

    engine: Engine
    dispatcher: LocalDispatcher
    scheduler: Scheduler
    stop: threading.Event
    thread: threading.Thread
    sender: AlertSender
    sender_stop: threading.Event
    sender_thread: threading.Thread

    def stop_sender(self) -> None:
        """Stop the background alert sender (its delivery in flight ends first)."""
        self.sender_stop.set()
        self.sender.wake()
        self.sender_thread.join(timeout=self.engine.settings.alert_timeout + 5)

    def close(self) -> None:
        self.stop.set()
        self.scheduler.wake()
        self.stop_sender()
        self.thread.join(timeout=10)
        self.dispatcher.close()
        self.engine.db.dispose()


@contextmanager
def embedded(settings: Settings, scope: set[int] | None) -> Iterator[Embedded]:
    """Local workers and a scheduler driving the runs in ``scope`` (filled by the caller), or
    every run of the store when ``scope`` is None (``maestro standalone``: then this process
    is the only worker, and attempts a dead predecessor left RUNNING are declared LOST)."""
    eng = Engine(open_store(settings), settings)
    dispatcher = LocalDispatcher(AttemptExecutor(eng), settings.worker_concurrency)
    eng.dispatcher = dispatcher
    scheduler = Scheduler(eng, scope=scope)
    if scope is None:
        scheduler.recover_orphans()
    stop = threading.Event()
    thread = threading.Thread(
        target=scheduler.run_forever, args=(stop,), name="scheduler", daemon=True
    )
    thread.start()
    sender = AlertSender(eng)
    sender_stop = threading.Event()
    env = Embedded(
        eng, dispatcher, scheduler, stop, thread, sender, sender_stop, sender.start(sender_stop)
    )
    try:
        yield env
    finally:
        env.close()


@app.command()
def run(
    file: FileArg,
    param: Annotated[
        list[str], typer.Option("--param", "-p", help="Run parameter NAME=VALUE (repeatable).")
    ] = [],  # noqa: B006
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print one JSON object with the result on stdout, nothing else."
        ),
    ] = False,
    with_files: Annotated[
        list[Path],
        typer.Option(
            "--with",
            "-w",
            help="Also submit this workflow (one that its subworkflow steps start; repeatable).",
            show_default=False,
        ),
    ] = [],  # noqa: B006
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet", "-q", help="Do not stream the steps' output (the summary still prints)."
        ),
    ] = False,
) -> None:
    """Run a workflow to completion in this process, on the embedded store (no server).

    Each step's output streams live, prefixed with its step id (--quiet turns it off); a failed
    step's last lines follow the summary. Relative paths in the workflow resolve against the
    folder of FILE. The run and its logs are recorded under $MAESTRO_HOME (default ~/.maestro;
    `maestro logs RUN` prints them again). Exit code 0 only when the run SUCCEEDED.
    """
    with json_errors(as_json):  # a run that cannot start: its error as JSON too
        definition = read_definition(file)
        others = [(read_definition(other), other) for other in with_files]
        params = parse_params(param)
        settings = load_settings(project_dir=file.resolve().parent)
        scope: set[int] = set()
        stack = ExitStack()  # the store opened here: a store it cannot open is such an error
        env = stack.enter_context(embedded(settings, scope))
    with stack:
        for other, path in others:
            with env.engine.unit(actor="cli") as u:
                submit(u, other, source=str(path.resolve()))
        with json_errors(as_json):
            run_id = _start(env.engine, definition, file, params)
        scope.add(run_id)
        env.scheduler.wake()
        try:
            with _interrupt_flag() as interrupted:
                view = _follow(
                    env.engine,
                    run_id,
                    interrupted,
                    progress=not as_json,
                    logs=not (as_json or quiet),
                )
        except KeyboardInterrupt:
            _stop(env.engine, run_id)
            err.print("[magenta]interrupted: run stopped[/magenta]")
            _send_alerts(env, run_id)
            raise typer.Exit(130) from None
        _send_alerts(env, run_id)
    if as_json:
        print(json.dumps(view.as_json(), default=str))
    else:
        _summary(view)
    raise typer.Exit(0 if view.status is RunStatus.SUCCEEDED else 1)


def _send_alerts(env: Embedded, run_id: int) -> None:
    """Deliver the run's alerts before the process ends; say what is left for later."""
    env.stop_sender()
    left = env.sender.flush(run_id, within=env.engine.settings.alert_timeout + 2)
    if left:
        err.print(
            f"[yellow]{plural(left, 'alert')} not delivered yet: retried by the next "
            "`maestro run` or `maestro standalone` on this store (`maestro alerts list`)[/yellow]"
        )


def _subworkflows(steps: Sequence[Step], loc: str = "steps") -> Iterator[tuple[str, str]]:
    """Each subworkflow step's workflow with the step's path, inside loop bodies too."""
    for i, step in enumerate(steps):
        if step.subworkflow is not None:
            yield f"{loc}[{i}].subworkflow.workflow", step.subworkflow.workflow
        if step.body is not None:
            key = "foreach" if step.foreach is not None else "while"
            yield from _subworkflows(step.body, f"{loc}[{i}].{key}.steps")


def _check_subworkflows(eng: Engine, definition: WorkflowDefinition) -> None:
    """A subworkflow step whose workflow is not in the store fails the run when it is reached
    (a branch not taken never is): say so before starting, with the flag that fixes it."""
    wanted = [(loc, wf) for loc, wf in _subworkflows(definition.steps) if wf != definition.id]
    if not wanted:
        return
    with eng.db.read() as conn:
        known = set(
            conn.execute(
                select(tables.workflows.c.id).where(
                    tables.workflows.c.id.in_({wf for _, wf in wanted})
                )
            ).scalars()
        )
    missing = [(loc, wf) for loc, wf in wanted if wf not in known]
    for loc, wf in missing:
        err.print(
            f"[yellow]warning:[/yellow] {loc}: workflow {wf!r} is not in this store "
            "($MAESTRO_HOME): the run fails if it reaches this step; add its file with "
            "--with FILE",
            highlight=False,
            soft_wrap=True,
        )


def _start(eng: Engine, definition: WorkflowDefinition, file: Path, params: dict[str, Any]) -> int:
    try:
        check_alert_connections(eng, definition)
        _check_subworkflows(eng, definition)
        with eng.unit(actor="cli") as u:
            submitted = submit(u, definition, source=str(file.resolve()))
        eng.versions.put(definition.id, submitted.version, definition)
        started = start_run_now(eng, definition.id, "cli", params=params, version=submitted.version)
        return started.run_id
    except ParamError as exc:
        fail(f"invalid params: {exc.message}")
    except DefinitionError as exc:
        fail(str(exc))
    except MaestroError as exc:
        fail(exc.message)


def _stop(eng: Engine, run_id: int) -> None:
    with eng.unit(actor="cli") as u:
        run_row = load_run(u.conn, run_id)
        compiled = eng.versions.for_run(u.conn, run_row.workflow_id, run_row.version, run_row.body)
        RunAdvance(u, run_row, compiled).end_run(RunStatus.STOPPED, "interrupted", action="stop")


@contextmanager
def _interrupt_flag() -> Iterator[threading.Event]:
    """Ctrl-C sets an event that the follow loop checks between polls, instead of raising
    KeyboardInterrupt wherever the main thread happens to be (inside a database call, it
    could leave the connection pool locked, and the stop that follows would hang)."""
    flag = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda _signum, _frame: flag.set())
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def _follow(
    eng: Engine, run_id: int, interrupted: threading.Event, *, progress: bool, logs: bool
) -> RunView:
    """Poll the run until it ends (or Ctrl-C: KeyboardInterrupt): a progress line on stderr,
    the steps' log lines on stdout (on an interactive terminal, above the progress line)."""
    started = time.monotonic()
    console = Console(stderr=True)
    out = Console()
    with Live(console=console, refresh_per_second=8, transient=True, auto_refresh=False) as live:
        shared_screen = console.is_terminal and out.is_terminal
        follower = LogFollower(LinePrinter(live.console if shared_screen else out))
        waiting_said = False
        while True:
            with eng.db.read() as conn:
                status = run_status(conn, run_id)
                if (
                    status is RunStatus.QUEUED
                    and not waiting_said
                    and time.monotonic() - started > _SAY_QUEUED_AFTER
                ):
                    waiting_said = True
                    console.print(_queued_behind(conn, run_id), highlight=False, soft_wrap=True)
                if logs:
                    follower.poll(conn, run_id)
                if status in RUN_TERMINAL:
                    if logs:
                        follower.flush()
                    return run_view(conn, run_id)
                if progress:
                    counts = step_counts(conn, run_id)
                    running = running_steps(conn, run_id)
            if progress:
                live.update(_progress(counts, running, time.monotonic() - started), refresh=True)
            if interrupted.wait(0.1):
                raise KeyboardInterrupt


#: seconds a run may stay QUEUED before `maestro run` says what it waits for
_SAY_QUEUED_AFTER = 2.0


def _queued_behind(conn: Connection, run_id: int) -> str:
    """Why the run is still QUEUED: the workflow's active runs its run strategy waits for —
    a run of a process that died (kill -9) stays RUNNING until a scheduler on this store
    drives it again, and `maestro run` drives only its own."""
    R = tables.runs
    workflow = select(R.c.workflow_id).where(R.c.id == run_id).scalar_subquery()
    ahead = conn.execute(
        select(R.c.id, R.c.status, R.c.started_at)
        .where(
            R.c.workflow_id == workflow,
            R.c.id != run_id,
            R.c.parent_run_id.is_(None),
            R.c.status.in_([RunStatus.RUNNING.value, RunStatus.PAUSED.value]),
        )
        .order_by(R.c.id)
        .limit(5)
    ).all()
    if not ahead:
        return f"run {run_id} is QUEUED: its workflow's run strategy has not admitted it yet"
    listed = ", ".join(
        f"run {r.id} ({r.status} since {r.started_at:%Y-%m-%d %H:%M:%S})" for r in ahead
    )
    return (
        f"run {run_id} is QUEUED behind {listed}: the workflow's run strategy waits for them. "
        "A run whose process died stays so until a scheduler drives it again: `maestro "
        "standalone` on this store takes it over (its lost steps are retried or failed), "
        "and `maestro runs stop ID` against it stops it."
    )


def _progress(counts: dict[StepStatus, int], running: list[str], elapsed: float) -> Text:
    total = sum(counts.values())
    done = sum(n for s, n in counts.items() if s not in _UNFINISHED)
    line = Text(f"{done}/{total} steps done", style="bold")
    line.append(f"  ·  {elapsed:0.1f}s")
    if running:
        line.append("  ·  running: ", style="dim")
        line.append(", ".join(running), style="cyan")
    return line


_UNFINISHED = {
    StepStatus.PENDING,
    StepStatus.WAITING,
    StepStatus.QUEUED,
    StepStatus.RUNNING,
    StepStatus.RETRYING,
}


def _summary(view: RunView) -> None:
    out = Console()
    table = Table(
        title=f"{view.workflow_id} · run {view.id} (#{view.number})", title_justify="left"
    )
    for col in ("step", "type", "status", "attempts", "duration", "outputs / error"):
        table.add_column(col, overflow="fold")
    for s in view.steps:
        detail = (
            s.error
            if s.error and s.status.value not in ("SUCCEEDED", "SKIPPED")
            else (json.dumps(s.outputs, default=str) if s.outputs else (s.error or ""))
        )
        table.add_row(
            s.step_id,
            s.step_type,
            Text(s.status.value, style=STATUS_STYLE.get(s.status, "")),
            str(s.attempt_count),
            f"{s.duration:.2f}s" if s.duration is not None else "",
            _clip(detail, 120),
        )
    out.print(table)
    elapsed = ""
    if view.started_at and view.ended_at:
        elapsed = f" in {(view.ended_at - view.started_at).total_seconds():.2f}s"
    out.print(Text(f"run {view.status.value}{elapsed}", style=STATUS_STYLE.get(view.status, "")))
    if view.error:
        out.print(Text(view.error, style="red"), soft_wrap=True)
    if view.outputs:
        out.print(Text(f"outputs: {json.dumps(view.outputs, default=str)}"), soft_wrap=True)
    for s in view.steps:
        if s.status in (StepStatus.FAILED, StepStatus.TIMED_OUT) and s.log_path:
            lines = tail(s.log_path)
            if lines:
                title = f"last {len(lines)} lines of {s.step_id}'s log ({s.log_path}):"
                out.print(Text(title, style="red"), soft_wrap=True)
                for line in lines:
                    out.print(Text(f"  {line}"), soft_wrap=True, highlight=False)
            else:
                out.print(Text(f"{s.step_id} wrote no log", style="dim"))


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
