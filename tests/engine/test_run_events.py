"""Events have no foreign key on their run (migration 0011): whatever deletes runs deletes
their events, those of the runs below them included, and nothing else's."""

from __future__ import annotations

from sqlalchemy import func, select

from maestro.engine.catalog import delete_workflow
from maestro.store import tables
from tests.engine.harness import Harness

CHILD = """
id: child
owner: t
steps: [{id: calc, type: noop}]
"""
PARENT = """
id: parent
owner: t
steps:
  - {id: sub, type: subworkflow, subworkflow: {workflow: child}}
  - id: each
    type: foreach
    foreach:
      items: [1, 2]
      steps: [{id: inner, type: noop}]
"""


def _events_by_run(h: Harness) -> dict[int, int]:
    e = tables.events
    with h.db.read() as conn:
        rows = conn.execute(
            select(e.c.run_id, func.count()).where(e.c.run_id.is_not(None)).group_by(e.c.run_id)
        ).all()
    return {run_id: n for run_id, n in rows}


def _run_ids(h: Harness) -> set[int]:
    with h.db.read() as conn:
        return set(conn.execute(select(tables.runs.c.id)).scalars())


def test_deleting_a_workflow_deletes_the_events_of_its_runs_and_their_children(
    harness: Harness,
) -> None:
    harness.submit(CHILD)
    alone = harness.start(CHILD)  # the child workflow's own run: it and its events stay
    assert harness.drain(alone).status == "SUCCEEDED"
    parent = harness.start(PARENT)
    assert harness.drain(parent).status == "SUCCEEDED"
    below = _run_ids(harness) - {alone, parent}
    assert len(below) == 3  # the subworkflow's run (of "child") and two iterations
    assert set(_events_by_run(harness)) == {alone, parent, *below}

    delete_workflow(harness.engine, "parent", "t")

    assert _run_ids(harness) == {alone}
    assert set(_events_by_run(harness)) == {alone}
