"""``maestro db prune``: delete runs that ended long ago, with their steps, attempts, events and
log files (``maestro.engine.retention``)."""

from __future__ import annotations

from typing import Annotated

import typer

from maestro.cli.common import db_app, err, fail, open_store
from maestro.definition.durations import parse_duration
from maestro.engine.core import Engine
from maestro.engine.retention import prune
from maestro.errors import MaestroError
from maestro.settings import load_settings
from maestro.wording import plural


@db_app.command("prune")
def db_prune(
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than",
            help="Delete runs that ended longer ago than this (30d, 12h, 90d).",
        ),
    ],
    keep_last: Annotated[
        int,
        typer.Option(
            "--keep-last", min=0, help="Keep each workflow's N newest runs whatever their age."
        ),
    ] = 0,
) -> None:
    """Delete old runs (and their steps, attempts, events and logs) from the store of
    MAESTRO_DATABASE_URL (default: the embedded store), in short batches.

    Queued, running and paused runs are never deleted; child runs go with their run.
    """
    try:
        age = parse_duration(older_than)
    except (MaestroError, ValueError) as exc:
        fail(f"--older-than {older_than!r}: {exc}")
    settings = load_settings()
    db = open_store(settings)
    try:
        engine = Engine(db, settings)
        with err.status("pruning…") as status:
            done = prune(
                engine,
                age,
                keep_last=keep_last,
                progress=lambda n: status.update(f"pruning… {plural(n, 'run')} deleted"),
            )
    finally:
        db.dispose()
    children = f" (and {plural(done.child_runs, 'child run')})" if done.child_runs else ""
    err.print(
        f"deleted {plural(done.runs, 'run')}{children} that ended more than {older_than} ago, "
        f"and {plural(done.log_folders, 'log folder')}",
        highlight=False,
    )
