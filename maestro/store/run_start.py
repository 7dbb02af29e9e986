"""A new run's start on PostgreSQL in one statement: the run RUNNING, if it is still QUEUED,
and all its step rows PENDING.

Two statements before (the run's conditional ``UPDATE``, then the steps' ``INSERT``, which
SQLAlchemy batches for a run of several steps); a data-modifying CTE makes them one round
trip, and the step rows go as one array per column, however many. Nothing is written when
the run was not QUEUED (someone else moved it): no ids come back. SQLite has no
data-modifying CTEs: ``maestro.engine.start`` keeps the two statements there.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Integer,
    String,
    bindparam,
    func,
    insert,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from maestro.states import RunStatus, StepStatus
from maestro.store import direct, tables
from maestro.store.types import UTCDateTime

R, S = tables.runs, tables.step_runs

#: the step rows' own columns (the rest is the run's id, PENDING, zeros and the start time)
STEP_KEYS = ("step_id", "step_type", "position", "priority", "pool", "up_total")
_STEP_TYPES = {
    "step_id": String,
    "step_type": String,
    "position": Integer,
    "priority": Integer,
    "pool": String,
    "up_total": Integer,
}
_ZEROS = (
    "up_done",
    "up_failed",
    "up_skipped",
    "attempts",
    "platform_failures",
    "children_total",
    "children_started",
    "children_done",
    "children_failed",
)


def _statement() -> Any:
    now = bindparam("p_now", type_=UTCDateTime)
    started = (
        update(R)
        .where(R.c.id == bindparam("p_run", type_=BigInteger), R.c.status == RunStatus.QUEUED.value)
        .values(
            status=RunStatus.RUNNING.value,
            started_at=now,
            timeout_at=bindparam("p_timeout", type_=UTCDateTime),
            steps_total=bindparam("p_total", type_=Integer),
            steps_unfinished=bindparam("p_total", type_=Integer),
            steps_failed=0,
        )
        .returning(R.c.id)
        .cte("r")
    )
    steps = (
        func.unnest(*(bindparam(f"p_{k}", type_=ARRAY(_STEP_TYPES[k])) for k in STEP_KEYS))
        .table_valued(*STEP_KEYS)
        .render_derived(name="s")
    )
    columns = ["run_id", *STEP_KEYS, "status", *_ZEROS, "created_at"]
    rows = (
        select(
            started.c.id,
            *(steps.c[k] for k in STEP_KEYS),
            literal(StepStatus.PENDING.value),
            *(literal(0) for _ in _ZEROS),
            now,
        )
        .select_from(started.join(steps, true()))
        .order_by(steps.c.position)
    )
    return insert(S).from_select(columns, rows).returning(S.c.id, S.c.position)


_START = _statement()


def start_with_steps(
    conn: Connection,
    run_id: int,
    now: datetime,
    timeout_at: datetime,
    steps: Sequence[dict[str, Any]],
) -> list[int] | None:
    """The run RUNNING (``started_at`` ``now``, its step counters) with ``steps`` (dicts with
    ``STEP_KEYS``, at least one) inserted PENDING; their ids in ``steps``' order. None when
    the run was not QUEUED: then nothing was written."""
    params: dict[str, Any] = {f"p_{k}": [s[k] for s in steps] for k in STEP_KEYS}
    params.update(p_run=run_id, p_now=now, p_timeout=timeout_at, p_total=len(steps))
    by_position = {r.position: r.id for r in direct.execute(conn, _START, params)}
    if not by_position:
        return None
    return [by_position[s["position"]] for s in steps]
