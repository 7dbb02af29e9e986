"""How runs refer to each other across a restart, with the per-workflow numbers pages show:
a run's restarts, the run a restart came from, and the attempt whose result a restart reused.

Each is a handful of primary-key or index probes (``runs`` by id and on
``ix_runs_restarted_from``, ``step_runs`` on ``uq_step_runs_run_step``), never a scan of a
history.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import Connection, select

from maestro.store import tables

R, S, E = tables.runs, tables.step_runs, tables.events
#: how far a chain of restarts (a restart of a restart of …) is followed back
MAX_RESTART_HOPS = 50
#: the most restarts of one run listed
MAX_RESTARTS = 20


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
    """The runs that restarted ``run_id``, oldest first (``ix_runs_restarted_from``)."""
    rows = conn.execute(
        select(R.c.id, R.c.number, R.c.workflow_id)
        .where(R.c.restarted_from == run_id)
        .order_by(R.c.id)
        .limit(MAX_RESTARTS)
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
