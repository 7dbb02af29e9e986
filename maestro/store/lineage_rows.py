"""The rows lineage events need besides the traces' (``maestro.store.span_rows``): the steps
that child runs (foreach iterations, subworkflow runs) belong to, for their parent facets."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Connection, select

from maestro.store import tables

R, S = tables.runs, tables.step_runs


def parent_steps(conn: Connection, step_run_ids: Collection[int]) -> dict[int, Any]:
    """Each step run's step id, body and run (its id, workflow and creation time)."""
    if not step_run_ids:
        return {}
    query = (
        select(
            S.c.id,
            S.c.step_id,
            R.c.id.label("run_id"),
            R.c.workflow_id,
            R.c.body,
            R.c.created_at.label("run_created_at"),
        )
        .select_from(S.join(R, R.c.id == S.c.run_id))
        .where(S.c.id.in_(sorted(step_run_ids)))
    )
    return {row.id: row for row in conn.execute(query)}
