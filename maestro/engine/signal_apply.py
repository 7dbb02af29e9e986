"""Applying a recorded signal, in a unit of work of its own that marks its row processed:
the steps whose ``wait_for`` it satisfies are released, workflows with a matching signal
trigger start runs. The row is the outbox: if a process dies between recording and applying,
the scheduler applies the signals left unprocessed on its next pass.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from maestro.engine.advance import release_waiting
from maestro.engine.compiled import VersionCache
from maestro.engine.signal_waits import WAITING_FOR_SIGNALS, matches
from maestro.engine.triggers import start_runs_for_signal
from maestro.states import StepStatus
from maestro.store import signals as signal_rows
from maestro.store import tables
from maestro.store.records import STEP_COLUMNS, StepRow
from maestro.store.tables import status_is
from maestro.store.unit import Unit

SIG, WAITS, S = tables.signals, tables.signal_waits, tables.step_runs


def apply(u: Unit, versions: VersionCache, signal_id: int) -> tuple[list[int], list[int]]:
    """Apply a recorded signal once: release the waits it satisfies, start triggered runs.
    Returns the runs started and the steps released (nothing if it was applied already)."""
    row = u.conn.execute(
        select(SIG)
        .where(SIG.c.id == signal_id, SIG.c.processed_at.is_(None))
        .with_for_update(skip_locked=True)
    ).first()
    if row is None:
        return [], []
    u.actor = row.created_by or u.actor  # what the signal does, its sender did
    signal_rows.mark_applied(u.conn, signal_id, u.now)
    steps = _release_waits(u, versions, signal_id, row.name, row.payload, row.created_at)
    runs = start_runs_for_signal(u, versions, signal_id, row.name, row.payload, row.sender_owners)
    return runs, steps


def _release_waits(
    u: Unit,
    versions: VersionCache,
    signal_id: int,
    name: str,
    payload: dict[str, Any],
    at: datetime,
) -> list[int]:
    open_waits = u.conn.execute(
        select(WAITS.c.id, WAITS.c.step_run_id, WAITS.c.match, WAITS.c.since).where(
            WAITS.c.signal_name == name, WAITS.c.signal_id.is_(None)
        )
    ).all()
    touched: set[int] = set()
    for wait_id, step_run_id, match, since in open_waits:
        if since <= at and matches(match or {}, payload or {}):
            signal_rows.satisfy_wait(u.conn, wait_id, signal_id)
            touched.add(step_run_id)
    return [sid for sid in sorted(touched) if _release_if_done(u, versions, sid)]


def _release_if_done(u: Unit, versions: VersionCache, step_run_id: int) -> bool:
    still_open = u.conn.execute(
        select(WAITS.c.id).where(WAITS.c.step_run_id == step_run_id, WAITS.c.signal_id.is_(None))
    ).first()
    if still_open is not None:
        return False
    row = u.conn.execute(
        select(*STEP_COLUMNS).where(
            S.c.id == step_run_id,
            status_is(S.c.status, StepStatus.WAITING),
            S.c.waiting_for == WAITING_FOR_SIGNALS,
        )
    ).first()
    if row is None:
        return False
    return release_waiting(u, versions, StepRow.of(row))
