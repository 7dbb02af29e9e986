"""Small reads of the web view that ``history`` and ``queries`` lack: how runs refer to each
other across a restart (with the per-workflow numbers pages show), the attempt whose result a
restart reused, and a cheap stamp that changes whenever anything does.

Each is a handful of primary-key or index probes (``runs`` by id, ``step_runs`` on
``uq_step_runs_run_step``, ``events`` on ``ix_events_run``), never a scan of a history.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from maestro.store import tables

R, S, E = tables.runs, tables.step_runs, tables.events
#: how far a chain of restarts (a restart of a restart of …) is followed back
MAX_RESTART_HOPS = 50
#: the most restarts of one run listed
MAX_RESTARTS = 20
#: what ``actions.restart_run`` records on the run it restarts
_RESTARTED_AS = re.compile(r"restarted as run (\d+)")


@dataclass(frozen=True)
class RunRef:
    """A run as a link names it: its id (the URL) and its number within its workflow."""

    id: int
    number: int
    workflow_id: str


def run_ref(conn: Connection, run_id: int) -> RunRef | None:
    row = conn.execute(select(R.c.id, R.c.number, R.c.workflow_id).where(R.c.id == run_id)).first()
    return None if row is None else RunRef(row.id, row.number, row.workflow_id)


def restarts_of(conn: Connection, run_id: int) -> list[RunRef]:
    """The runs that restarted ``run_id``, oldest first: found through the run's own "restart"
    events (``ix_events_run``) and checked against ``runs.restarted_from``."""
    messages = conn.execute(
        select(E.c.message)
        .where(E.c.run_id == run_id, E.c.entity == "run", E.c.action == "restart")
        .order_by(E.c.id)
        .limit(MAX_RESTARTS)
    ).scalars()
    ids = [int(m.group(1)) for m in map(_RESTARTED_AS.search, (x or "" for x in messages)) if m]
    if not ids:
        return []
    rows = conn.execute(
        select(R.c.id, R.c.number, R.c.workflow_id)
        .where(R.c.id.in_(ids), R.c.restarted_from == run_id)
        .order_by(R.c.id)
    )
    return [RunRef(r.id, r.number, r.workflow_id) for r in rows]


@dataclass(frozen=True)
class ReusedAttempt:
    """The attempt of an earlier run whose result a restart reused for a step."""

    run: RunRef
    step_id: str
    attempt: int


def reused_attempts(
    conn: Connection, restarted_from: int, step_ids: Collection[str]
) -> dict[str, ReusedAttempt]:
    """For each of ``step_ids`` (steps of a restart that did not run), the attempt that
    produced the reused result: in ``restarted_from``, or further back along the chain of
    restarts when that run had reused it too. A step found nowhere is left out."""
    pending = set(step_ids)
    found: dict[str, ReusedAttempt] = {}
    current: int | None = restarted_from
    for _ in range(MAX_RESTART_HOPS):
        if current is None or not pending:
            break
        run = conn.execute(
            select(R.c.id, R.c.number, R.c.workflow_id, R.c.restarted_from).where(R.c.id == current)
        ).first()
        if run is None:
            break
        ref = RunRef(run.id, run.number, run.workflow_id)
        rows = conn.execute(
            select(S.c.step_id, S.c.attempts).where(
                S.c.run_id == current, S.c.step_id.in_(sorted(pending))
            )
        )
        for row in rows:
            if row.attempts > 0:
                found[row.step_id] = ReusedAttempt(ref, row.step_id, row.attempts)
                pending.discard(row.step_id)
        current = run.restarted_from
    return found


def change_stamp(conn: Connection) -> str:
    """A value that changes whenever a run is created or anything in any run changes (every
    change is an event): the newest event's and the newest run's ids, two primary-key probes.
    A page that is not following an active run polls this instead of re-rendering itself."""
    event = conn.execute(select(func.max(E.c.id))).scalar() or 0
    run = conn.execute(select(func.max(R.c.id))).scalar() or 0
    return f"{event}.{run}"
