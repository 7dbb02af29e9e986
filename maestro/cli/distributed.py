"""The distributed processes: ``maestro scheduler``, ``maestro worker``, ``maestro db``."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from typing import Annotated

import typer

from maestro import metrics
from maestro.alerts.sender import AlertSender
from maestro.cli.common import app, db_app, err, fail, open_store, shown_url
from maestro.definition import parse_duration
from maestro.engine.core import Engine
from maestro.engine.scheduler import Scheduler
from maestro.settings import Settings, load_settings
from maestro.store.db import Database
from maestro.store.migrate import pending
from maestro.store.notify import Listener
from workers.celery_app import (
    THREAD_POOL,
    CeleryDispatcher,
    create_celery_app,
    enable_drain,
    register_worker,
)
from workers.executor import AttemptExecutor

# -- the distributed processes --------------------------------------------------------------


def _connect(settings: Settings, *, pre_ping: bool = False) -> Database:
    """The shared store of the distributed mode; its schema must be migrated already."""
    db: Database | None = None
    try:
        db = Database(
            settings.effective_database_url,
            sqlite_synchronous=settings.sqlite_synchronous,
            pre_ping=pre_ping,
        )
        behind = pending(db)
    except Exception as exc:  # a bad URL too: no traceback
        if db is not None:
            db.dispose()
        fail(f"cannot reach the database {shown_url(settings)}: {exc.__class__.__name__}: {exc}")
    if behind:
        db.dispose()
        fail(f"the schema of {shown_url(settings)} is not up to date: run `maestro db upgrade`")
    return db


def _stop_on_signals(stop: threading.Event, wake: Callable[[], None]) -> None:
    def handler(_signum: int, _frame: object) -> None:
        stop.set()
        wake()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


MetricsPort = Annotated[
    int | None,
    typer.Option(
        min=1,
        max=65535,
        envvar="MAESTRO_METRICS_PORT",
        help="Serve this process's Prometheus metrics (handoffs, attempts ended, scheduler "
        "passes, database pools) at http://ADDRESS:PORT/metrics.",
        show_default=False,
    ),
]
MetricsAddress = Annotated[
    str,
    typer.Option(
        envvar="MAESTRO_METRICS_ADDRESS",
        help="Address of --metrics-port (0.0.0.0 in a container).",
    ),
]


def _serve_metrics(port: int | None, address: str) -> None:
    if port is None:
        return
    try:
        metrics.serve(port, address)
    except OSError as exc:
        fail(f"--metrics-port {port}: cannot listen on {address}:{port}: {exc.strerror}")


@app.command()
def scheduler(
    metrics_port: MetricsPort = None, metrics_address: MetricsAddress = "127.0.0.1"
) -> None:
    """Run a scheduler (distributed mode): timers, retries, timeouts, lost workers, re-sends,
    and the alerts' delivery.

    Any number may run side by side on the same database. Configured by MAESTRO_DATABASE_URL
    and MAESTRO_BROKER_URL.
    """
    settings = load_settings()
    db = _connect(settings)
    _serve_metrics(metrics_port, metrics_address)
    eng = Engine(db, settings, dispatcher=CeleryDispatcher(create_celery_app(settings)))
    loop = Scheduler(eng)
    sender = AlertSender(eng)  # alerts go out from the schedulers

    def wake() -> None:
        loop.wake()
        sender.wake()

    stop = threading.Event()
    _stop_on_signals(stop, wake)
    sending = sender.start(stop)
    listener = Listener(db.url, wake) if not db.is_sqlite else None
    if listener is not None:
        listener.start()
    err.print(f"maestro scheduler running on {shown_url(settings)}", highlight=False)
    try:
        loop.run_forever(stop)
    finally:
        if listener is not None:
            listener.stop()
        sending.join(timeout=settings.alert_timeout + 5)
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
    prefetch: Annotated[
        bool | None,
        typer.Option(
            "--prefetch/--no-prefetch",
            help="Reserve messages beyond free slots: faster fan-out of very short steps, but "
            "a busy worker holds steps an idle one could start (default: "
            "MAESTRO_WORKER_PREFETCH, off).",
            show_default=False,
        ),
    ] = None,
    drain_timeout: Annotated[
        str,
        typer.Option(
            help="On SIGTERM, let running steps finish for this long (600, 90s, 10m), then "
            "stop them and hand them back to run elsewhere; a second SIGTERM stops them at once.",
        ),
    ] = "10m",
    metrics_port: MetricsPort = None,
    metrics_address: MetricsAddress = "127.0.0.1",
) -> None:
    """Run a worker (distributed mode): executes the attempts sent to QUEUES.

    A Celery worker whose one task claims, runs and reports an attempt. Configured by
    MAESTRO_DATABASE_URL and MAESTRO_BROKER_URL.

    SIGTERM (what Kubernetes and `docker stop` send) drains it: no new step starts, running
    ones may finish for --drain-timeout, then they are stopped and retried on another worker
    (not counted against their retries). Give the container a termination grace period a
    little longer than the drain timeout.
    """
    if pool not in ("threads", "prefork"):
        fail(f"--pool must be threads or prefork, not {pool!r}")
    try:
        drain = parse_duration(drain_timeout).total_seconds()
    except ValueError as exc:
        fail(f"--drain-timeout: {exc}")
    settings = load_settings()
    if prefetch is not None:
        settings = settings.model_copy(update={"worker_prefetch": prefetch})
    _connect(settings).dispose()  # fail fast; each process opens its own pool later
    if metrics_port is not None and pool == "prefork":
        err.print(
            "--metrics-port: a prefork worker's steps run in child processes whose handoffs "
            "and attempts this process does not see (use --pool threads for them)",
            highlight=False,
        )
    _serve_metrics(metrics_port, metrics_address)
    celery = create_celery_app(settings)

    def make_executor() -> AttemptExecutor:
        db = Database(settings.effective_database_url)
        return AttemptExecutor(Engine(db, settings, dispatcher=CeleryDispatcher(celery)))

    register_worker(celery, make_executor, [q.strip() for q in queues.split(",") if q.strip()])
    enable_drain(drain)
    # threads: ours (Celery's, plus what a cold shutdown needs). Celery's command line takes
    # only pool names, and uses the worker_pool setting when it is given its default, prefork.
    celery.conf.worker_pool = THREAD_POOL if pool == "threads" else "prefork"
    err.print(f"maestro worker consuming {queues} ({pool} × {concurrency})", highlight=False)
    celery.worker_main(
        [
            "worker",
            "--pool=prefork",
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
