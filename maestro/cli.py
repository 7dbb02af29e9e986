"""The ``maestro`` command: the composition root that wires settings, store, engine, workers.

Exit codes: 0 the run SUCCEEDED (or the command did what it said), 1 the run ended otherwise,
2 bad input (file, definition, params), 130 interrupted.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text
from sqlalchemy.engine import make_url

from maestro import __version__
from maestro.definition import WorkflowDefinition, load_definition, to_dot, to_mermaid
from maestro.engine.advance import RunAdvance
from maestro.engine.core import Engine
from maestro.engine.records import load_run
from maestro.engine.runs import create_run, start_run
from maestro.engine.scheduler import Scheduler
from maestro.engine.views import RunView, run_status, run_view, running_steps, step_counts
from maestro.engine.workflows import submit
from maestro.errors import DefinitionError, MaestroError, ParamError
from maestro.settings import Settings, load_settings
from maestro.states import RUN_TERMINAL, RunStatus, StepStatus
from maestro.store.db import Database
from maestro.store.migrate import pending, upgrade
from maestro.store.notify import Listener
from workers.celery_app import CeleryDispatcher, create_celery_app, register_worker
from workers.executor import AttemptExecutor
from workers.local import LocalDispatcher

app = typer.Typer(
    help="Maestro for Python: YAML workflows of data-platform steps, run and recorded.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema management.", no_args_is_help=True)
app.add_typer(db_app, name="db")

err = Console(stderr=True)
STATUS_STYLE = {
    "SUCCEEDED": "green",
    "FAILED": "red",
    "TIMED_OUT": "red",
    "UPSTREAM_FAILED": "red",
    "FAILED_IGNORED": "yellow",
    "SKIPPED": "dim",
    "STOPPED": "magenta",
    "RUNNING": "cyan",
    "QUEUED": "blue",
    "RETRYING": "yellow",
    "WAITING": "blue",
    "PENDING": "white",
}


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a readable error (never a traceback) and exit."""
    err.print(f"[red]error:[/red] {message}", highlight=False, markup=True)
    raise typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        print(f"maestro {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


# -- definitions ----------------------------------------------------------------------------


def _read_definition(file: Path, invalid_exit: int = 2) -> WorkflowDefinition:
    try:
        text = file.read_bytes()
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}")
    try:
        return load_definition(text, source=str(file))
    except DefinitionError as exc:
        err.print(Text(exc.message, style="red"), soft_wrap=True)
        raise typer.Exit(invalid_exit) from None


FileArg = Annotated[
    Path, typer.Argument(help="Workflow definition (YAML or JSON).", show_default=False)
]


@app.command()
def validate(file: FileArg) -> None:
    """Validate a workflow definition; print every problem with its path (exit 1 if any)."""
    definition = _read_definition(file, invalid_exit=1)
    print(f"{file}: valid workflow {definition.id!r} with {len(definition.steps)} step(s)")


@app.command()
def graph(
    file: FileArg,
    fmt: Annotated[str, typer.Option("--format", "-f", help="dot or mermaid.")] = "mermaid",
) -> None:
    """Draw the workflow's DAG as Graphviz dot or Mermaid text."""
    definition = _read_definition(file)
    if fmt == "dot":
        print(to_dot(definition))
    elif fmt == "mermaid":
        print(to_mermaid(definition))
    else:
        fail(f"--format must be dot or mermaid, not {fmt!r}")


# -- the embedded default -------------------------------------------------------------------


@dataclass
class Embedded:
    """Store, engine, local workers and scheduler of one process."""

    engine: Engine
    dispatcher: LocalDispatcher
    scheduler: Scheduler
    stop: threading.Event
    thread: threading.Thread

    def close(self) -> None:
        self.stop.set()
        self.scheduler.wake()
        self.thread.join(timeout=10)
        self.dispatcher.close()
        self.engine.db.dispose()


def open_store(settings: Settings) -> Database:
    db = Database(settings.effective_database_url, sqlite_synchronous=settings.sqlite_synchronous)
    try:
        upgrade(db)
    except Exception as exc:  # an unreachable server or a broken file: say which
        db.dispose()
        fail(f"cannot open the store at {settings.effective_database_url}: {exc}")
    return db


@contextmanager
def embedded(settings: Settings, scope: set[int]) -> Iterator[Embedded]:
    """Local workers and a scheduler driving the runs in ``scope`` (filled by the caller)."""
    eng = Engine(open_store(settings), settings)
    dispatcher = LocalDispatcher(AttemptExecutor(eng), settings.worker_concurrency)
    eng.dispatcher = dispatcher
    scheduler = Scheduler(eng, scope=scope)
    stop = threading.Event()
    thread = threading.Thread(
        target=scheduler.run_forever, args=(stop,), name="scheduler", daemon=True
    )
    thread.start()
    env = Embedded(eng, dispatcher, scheduler, stop, thread)
    try:
        yield env
    finally:
        env.close()


def parse_params(pairs: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            fail(f"--param {pair!r}: expected NAME=VALUE")
        params[name.strip()] = value
    return params


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
) -> None:
    """Run a workflow to completion in this process, on the embedded store (no server).

    Relative paths in the workflow resolve against the folder of FILE. The run is recorded
    under $MAESTRO_HOME (default ~/.maestro). Exit code 0 only when the run SUCCEEDED.
    """
    definition = _read_definition(file)
    params = parse_params(param)
    settings = load_settings(project_dir=file.resolve().parent)
    scope: set[int] = set()
    with embedded(settings, scope) as env:
        run_id = _start(env.engine, definition, file, params)
        scope.add(run_id)
        env.scheduler.wake()
        try:
            view = _follow(env.engine, run_id, quiet=as_json)
        except KeyboardInterrupt:
            _stop(env.engine, run_id)
            err.print("[magenta]interrupted: run stopped[/magenta]")
            raise typer.Exit(130) from None
    if as_json:
        print(json.dumps(view.as_json(), default=str))
    else:
        _summary(view)
    raise typer.Exit(0 if view.status is RunStatus.SUCCEEDED else 1)


def _start(eng: Engine, definition: WorkflowDefinition, file: Path, params: dict[str, Any]) -> int:
    try:
        with eng.unit(actor="cli") as u:
            submitted = submit(u, definition, source=str(file.resolve()))
            eng.versions.put(definition.id, submitted.version, definition)
            run_id = create_run(
                u, eng.versions, definition.id, version=submitted.version, params=params
            )
            start_run(u, eng.versions, run_id)
            return run_id
    except ParamError as exc:
        fail(f"invalid params: {exc.message}")
    except MaestroError as exc:
        fail(exc.message)


def _stop(eng: Engine, run_id: int) -> None:
    with eng.unit(actor="cli") as u:
        run_row = load_run(u.conn, run_id)
        compiled = eng.versions.get(u.conn, run_row.workflow_id, run_row.version)
        RunAdvance(u, run_row, compiled).end_run(RunStatus.STOPPED, "interrupted", action="stop")


def _follow(eng: Engine, run_id: int, *, quiet: bool) -> RunView:
    started = time.monotonic()
    console = Console(stderr=True)
    with Live(console=console, refresh_per_second=8, transient=True, auto_refresh=False) as live:
        while True:
            with eng.db.read() as conn:
                status = run_status(conn, run_id)
                if status in RUN_TERMINAL:
                    return run_view(conn, run_id)
                if not quiet:
                    counts = step_counts(conn, run_id)
                    running = running_steps(conn, run_id)
            if not quiet:
                live.update(_progress(counts, running, time.monotonic() - started), refresh=True)
            time.sleep(0.1)


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
            str(s.attempts),
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
            out.print(Text(f"log of {s.step_id}: {s.log_path}", style="dim"), soft_wrap=True)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# -- the distributed processes --------------------------------------------------------------


def _connect(settings: Settings) -> Database:
    """The shared store of the distributed mode; its schema must be migrated already."""
    db = Database(settings.effective_database_url, sqlite_synchronous=settings.sqlite_synchronous)
    try:
        behind = pending(db)
    except Exception as exc:
        db.dispose()
        fail(f"cannot reach the database {_shown_url(settings)}: {exc.__class__.__name__}: {exc}")
    if behind:
        db.dispose()
        fail(f"the schema of {_shown_url(settings)} is not up to date: run `maestro db upgrade`")
    return db


def _shown_url(settings: Settings) -> str:
    return make_url(settings.effective_database_url).render_as_string(hide_password=True)


def _stop_on_signals(stop: threading.Event, wake: Callable[[], None]) -> None:
    def handler(_signum: int, _frame: object) -> None:
        stop.set()
        wake()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


@app.command()
def scheduler() -> None:
    """Run a scheduler (distributed mode): timers, retries, timeouts, lost workers, re-sends.

    Any number may run side by side on the same database. Configured by MAESTRO_DATABASE_URL
    and MAESTRO_BROKER_URL.
    """
    settings = load_settings()
    db = _connect(settings)
    eng = Engine(db, settings, dispatcher=CeleryDispatcher(create_celery_app(settings)))
    loop = Scheduler(eng)
    stop = threading.Event()
    _stop_on_signals(stop, loop.wake)
    listener = Listener(db.url, loop.wake) if not db.is_sqlite else None
    if listener is not None:
        listener.start()
    err.print(f"maestro scheduler running on {_shown_url(settings)}", highlight=False)
    try:
        loop.run_forever(stop)
    finally:
        if listener is not None:
            listener.stop()
        db.dispose()


@app.command()
def worker(
    queues: Annotated[str, typer.Option(help="Comma-separated queues to consume.")] = "default",
    concurrency: Annotated[int, typer.Option(min=1, max=256, help="Attempts run at once.")] = 8,
    pool: Annotated[
        str,
        typer.Option(
            help="threads: one process, many threads (many long steps); prefork: "
            "one process per slot (uses every core for many short steps)."
        ),
    ] = "threads",
) -> None:
    """Run a worker (distributed mode): executes the attempts sent to QUEUES.

    A Celery worker whose one task claims, runs and reports an attempt. Configured by
    MAESTRO_DATABASE_URL and MAESTRO_BROKER_URL.
    """
    if pool not in ("threads", "prefork"):
        fail(f"--pool must be threads or prefork, not {pool!r}")
    settings = load_settings()
    _connect(settings).dispose()  # fail fast; each process opens its own pool later
    celery = create_celery_app(settings)

    def make_executor() -> AttemptExecutor:
        db = Database(settings.effective_database_url)
        return AttemptExecutor(Engine(db, settings, dispatcher=CeleryDispatcher(celery)))

    register_worker(celery, make_executor)
    err.print(f"maestro worker consuming {queues} ({pool} × {concurrency})", highlight=False)
    celery.worker_main(
        [
            "worker",
            f"--pool={pool}",
            f"--concurrency={concurrency}",
            f"--queues={queues}",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            f"--hostname=maestro-{os.getpid()}@%h",
        ]
    )


# -- database ----------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the Alembic migrations to MAESTRO_DATABASE_URL (default: the embedded store)."""
    settings = load_settings()
    db = open_store(settings)
    db.dispose()
    print(f"schema up to date: {settings.effective_database_url.split('@')[-1]}")


def main() -> None:
    """Entry point of the ``maestro`` script."""
    try:
        app()
    except MaestroError as exc:  # a domain error that escaped a command: still no traceback
        err.print(f"[red]error:[/red] {exc.message}")
        sys.exit(2)
