"""Helpers shared by the scheduling tests (triggers, strategies, backfills, versions)."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from maestro.definition import load_definition
from maestro.engine.admission import admit_or_queue
from maestro.engine.runs import create_run
from maestro.engine.workflows import Submitted, submit
from maestro.states import RUN_TERMINAL, RunStatus
from maestro.store import tables
from tests.engine.harness import Harness

R, A, T, W = tables.runs, tables.attempts, tables.triggers, tables.workflows


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def advance_to(h: Harness, moment: datetime) -> None:
    h.clock.advance((moment - h.clock.now()).total_seconds())


def submit_yaml(h: Harness, text: str, *, activate: bool = True) -> Submitted:
    with h.engine.unit() as u:
        return submit(u, load_definition(textwrap.dedent(text)), activate=activate)


def new_run(h: Harness, workflow_id: str, **kwargs: Any) -> int:
    """Create a run and let the run strategy admit it, as the API and triggers do."""
    with h.engine.unit() as u:
        run_id = create_run(u, h.engine.versions, workflow_id, **kwargs)
        admit_or_queue(u, h.engine.versions, run_id)
    return run_id


def status(h: Harness, run_id: int) -> str:
    with h.db.read() as conn:
        return str(conn.execute(select(R.c.status).where(R.c.id == run_id)).scalar_one())


def runs(h: Harness, workflow_id: str) -> list[Any]:
    """The workflow's top-level runs, oldest first."""
    with h.db.read() as conn:
        return list(
            conn.execute(
                select(
                    R.c.id,
                    R.c.status,
                    R.c.trigger,
                    R.c.logical_date,
                    R.c.params,
                    R.c.version,
                    R.c.backfill_id,
                    R.c.error,
                    R.c.started_at,
                )
                .where(R.c.workflow_id == workflow_id, R.c.parent_run_id.is_(None))
                .order_by(R.c.id)
            )
        )


def statuses(h: Harness, workflow_id: str) -> list[str]:
    return [r.status for r in runs(h, workflow_id)]


def complete(h: Harness, run_id: int) -> str:
    """Execute the pending attempts of ``run_id`` only (other runs' wait) until it ends."""
    for _ in range(100):
        with h.db.read() as conn:
            mine = set(conn.execute(select(A.c.id).where(A.c.run_id == run_id)).scalars())
        batch = [d for d in h.dispatcher.pending if d.attempt_id in mine]
        if not batch:
            break
        h.dispatcher.pending = [d for d in h.dispatcher.pending if d.attempt_id not in mine]
        for d in batch:
            h.executor.execute(d.attempt_id)
    final = status(h, run_id)
    assert RunStatus(final) in RUN_TERMINAL, f"run {run_id} is still {final}"
    return final


def next_fire_at(h: Harness, workflow_id: str) -> list[datetime | None]:
    with h.db.read() as conn:
        return list(
            conn.execute(
                select(T.c.next_fire_at)
                .where(T.c.workflow_id == workflow_id, T.c.kind == "cron")
                .order_by(T.c.position)
            ).scalars()
        )


def trigger_rows(h: Harness, workflow_id: str) -> list[tuple[str, dict[str, Any]]]:
    with h.db.read() as conn:
        rows = conn.execute(
            select(T.c.kind, T.c.spec).where(T.c.workflow_id == workflow_id).order_by(T.c.position)
        )
        return [(r.kind, r.spec) for r in rows]


def blocked_by(h: Harness, workflow_id: str) -> int | None:
    with h.db.read() as conn:
        value = conn.execute(
            select(W.c.blocked_by_run_id).where(W.c.id == workflow_id)
        ).scalar_one()
        return int(value) if value is not None else None
