"""Retention: ``maestro db prune`` deletes runs that ended long ago, with their steps,
attempts, events and log files, in bounded batches (one short transaction each), keeping the
newest ``keep_last`` runs of every workflow whatever their age. Runs still queued, running or
paused are never touched, nor are child runs on their own (they go with their top-level run).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from maestro.engine.core import Engine
from maestro.store import retention

BATCH = 500


@dataclass(frozen=True)
class Pruned:
    runs: int
    #: child runs deleted with them (foreach iterations, subworkflow runs)
    child_runs: int
    log_folders: int


def prune(
    eng: Engine,
    older_than: timedelta,
    *,
    keep_last: int = 0,
    batch: int = BATCH,
    progress: Callable[[int], None] | None = None,
    max_runs: int | None = None,
) -> Pruned:
    """Delete the top-level runs that ended more than ``older_than`` ago, except each
    workflow's ``keep_last`` newest runs; ``progress`` hears the running count. With
    ``max_runs``, stop once about that many are gone (a scheduler's bounded pass)."""
    cutoff = eng.clock.now() - older_than
    runs = children = folders = 0
    with eng.db.read() as conn:
        workflows = retention.workflow_ids(conn)
    for workflow_id in workflows:
        with eng.db.read() as conn:
            below = retention.kept_from(conn, workflow_id, keep_last)
        keep_all = keep_last > 0 and below is None
        while True:
            with eng.unit(actor="prune") as u:
                ids = retention.old_runs(
                    u.conn,
                    workflow_id,
                    ended_before=cutoff,
                    below_id=below,
                    keep_all=keep_all,
                    limit=batch,
                )
                if not ids:
                    break
                below_ids = retention.child_runs(u.conn, ids)
                retention.delete_runs(u.conn, ids)
            runs += len(ids)
            children += len(below_ids)
            folders += _remove_logs(eng, [*ids, *below_ids])
            if progress is not None:
                progress(runs)
            if max_runs is not None and runs >= max_runs:
                return Pruned(runs, children, folders)
    return Pruned(runs, children, folders)


def _remove_logs(eng: Engine, run_ids: list[int]) -> int:
    """The runs' log folders (``<logs>/<run id>/``), after their rows are gone."""
    removed = 0
    for run_id in run_ids:
        folder = eng.settings.logs_dir / str(run_id)
        if folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed
