"""The web view's read models: the run-history grid, the newest runs of many workflows, and
what the run page reads — correct, bounded and index-backed on both stores."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import event

from maestro import reads
from maestro.states import RunStatus, StepStatus
from tests.engine.harness import Harness
from tests.web.conftest import flaky

CHAIN = """
id: {id}
owner: t
steps:
  - {{id: a, type: noop}}
  - {{id: b, type: noop, depends_on: [a]}}
"""


def _runs(harness: Harness, n: int, workflow: str = "w") -> list[int]:
    ids = []
    for _ in range(n):
        run_id = harness.start(CHAIN.format(id=workflow))
        harness.drain(run_id)
        ids.append(run_id)
    return ids


def _plans(harness: Harness, selects: list[tuple[str, Any]]) -> list[str]:
    """The query plan of each captured statement (PostgreSQL: with sequential scans off, so
    that a tiny table does not hide a missing index)."""
    plans = []
    with harness.db.engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        cur = raw.cursor()
        if harness.db.is_sqlite:
            for statement, params in selects:
                cur.execute(f"EXPLAIN QUERY PLAN {statement}", params)
                plans.append(" | ".join(str(row[-1]) for row in cur.fetchall()))
        else:
            cur.execute("SET enable_seqscan = off")
            for statement, params in selects:
                cur.execute(f"EXPLAIN {statement}", params)
                plans.append(" | ".join(str(row[0]) for row in cur.fetchall()))
        conn.rollback()
    return plans


def _grid(harness: Harness, workflow: str = "w", **kwargs: Any) -> reads.Grid:
    with harness.db.read() as conn:
        return reads.run_grid(conn, workflow, **kwargs)


def test_the_grid_shows_the_newest_runs_first_with_every_step(
    harness: Harness, tmp_path: Path
) -> None:
    failed = harness.start(flaky(tmp_path))
    harness.drain(failed)
    (tmp_path / "flag").touch()
    ok = harness.start(flaky(tmp_path))
    harness.drain(ok)
    grid = _grid(harness, "sales")
    assert [r.id for r in grid.runs] == [ok, failed]
    assert grid.steps == ["extract", "transform", "load"]  # definition order
    assert grid.cells[(failed, "transform")] == reads.GridCell(StepStatus.FAILED, 1)
    assert grid.cells[(failed, "load")].status is StepStatus.UPSTREAM_FAILED
    assert grid.cells[(failed, "load")].attempts == 0
    assert grid.cells[(ok, "transform")].status is StepStatus.SUCCEEDED
    assert grid.runs[1].status is RunStatus.FAILED
    assert grid.older is None and grid.newer is None


def test_the_grid_pages_by_keyset_both_ways(harness: Harness) -> None:
    ids = _runs(harness, 7)  # oldest first
    first = _grid(harness, limit=3)
    assert [r.id for r in first.runs] == ids[:-4:-1]
    assert first.newer is None and first.older == ids[4]
    second = _grid(harness, limit=3, before=first.older)
    assert [r.id for r in second.runs] == [ids[3], ids[2], ids[1]]
    assert second.newer == ids[3] and second.older == ids[1]
    last = _grid(harness, limit=3, before=second.older)
    assert [r.id for r in last.runs] == [ids[0]] and last.older is None
    back = _grid(harness, limit=3, after=second.newer)
    assert [r.id for r in back.runs] == [ids[6], ids[5], ids[4]]  # a full newest page
    assert back.newer is None
    middle = _grid(harness, limit=2, after=ids[1])
    assert [r.id for r in middle.runs] == [ids[3], ids[2]]
    assert middle.newer == ids[3] and middle.older == ids[2]


def test_the_grid_of_a_workflow_without_runs_is_empty(harness: Harness) -> None:
    harness.submit(CHAIN.format(id="w"))
    grid = _grid(harness)
    assert grid.runs == [] and grid.steps == [] and grid.older is None and grid.newer is None


def test_a_queued_run_has_a_column_without_cells(harness: Harness) -> None:
    from maestro.engine.runs import create_run

    harness.submit(CHAIN.format(id="w"))
    with harness.engine.unit() as u:
        queued = create_run(u, harness.engine.versions, "w")
    grid = _grid(harness)
    assert [r.id for r in grid.runs] == [queued] and grid.cells == {}


def test_run_durations_run_to_now_while_running(harness: Harness) -> None:
    run_id = harness.start(CHAIN.format(id="w"))
    grid = _grid(harness)
    now = harness.clock.advance(5)
    assert grid.runs[0].id == run_id and grid.runs[0].duration(now) == 5.0
    harness.drain(run_id)
    done = _grid(harness).runs[0]
    assert done.duration(harness.clock.now()) is not None


def _statements(harness: Harness, action: Any) -> list[str]:
    seen: list[str] = []

    def capture(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(harness.db.engine, "before_cursor_execute", capture)
    try:
        action()
    finally:
        event.remove(harness.db.engine, "before_cursor_execute", capture)
    return [s for s in seen if s.lstrip().upper().startswith(("SELECT", "WITH"))]


def test_a_grid_page_is_one_statement_and_a_probe_however_many_runs(harness: Harness) -> None:
    _runs(harness, 3)
    few = _statements(harness, lambda: _grid(harness, limit=2))
    _runs(harness, 12)
    many = _statements(harness, lambda: _grid(harness, limit=10))
    assert len(few) == len(many) == 2  # the page (runs × steps) and the newer-side probe


def test_the_grid_and_the_squares_read_through_the_history_index(harness: Harness) -> None:
    _runs(harness, 3)
    _runs(harness, 2, workflow="v")
    selects: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append((statement, params))

    event.listen(harness.db.engine, "before_cursor_execute", capture)
    try:
        _grid(harness, limit=2)
        _grid(harness, limit=2, before=10**6)
        with harness.db.read() as conn:
            reads.recent_runs(conn, ["w", "v"])
    finally:
        event.remove(harness.db.engine, "before_cursor_execute", capture)
    for (statement, _), plan in zip(selects, _plans(harness, selects), strict=True):
        full_scan = (
            re.search(r"\bSCAN (runs|step_runs)(?! USING)( |$)", plan) is not None
            if harness.db.is_sqlite
            else re.search(r"Seq Scan on (runs|step_runs)", plan) is not None
        )
        assert not full_scan, f"{statement}\n→ {plan}"
        assert "ix_runs_workflow_history" in plan or "pk_runs" in plan or "uq_" in plan, plan


def test_recent_runs_takes_the_newest_of_each_workflow(harness: Harness) -> None:
    w = _runs(harness, 4, workflow="w")
    v = _runs(harness, 2, workflow="v")
    harness.submit(CHAIN.format(id="u"))
    with harness.db.read() as conn:
        recent = reads.recent_runs(conn, ["w", "v", "u"], per_workflow=3)
        assert reads.recent_runs(conn, []) == {}
    assert [r.id for r in recent["w"]] == w[:-4:-1]
    assert [r.id for r in recent["v"]] == v[::-1]
    assert recent["u"] == []
    assert all(r.status is RunStatus.SUCCEEDED for r in recent["w"])


def test_the_run_page_reads_steps_attempts_and_links(harness: Harness, tmp_path: Path) -> None:
    run_id = harness.start(flaky(tmp_path))
    harness.drain(run_id)
    with harness.db.read() as conn:
        steps = reads.run_steps(conn, run_id)
        attempts = reads.run_attempts(conn, run_id)
        assert reads.child_runs(conn, run_id).by_step == {}
        assert reads.parent_link(conn, run_id) is None
        assert reads.run_body(conn, run_id) is None
    assert [(s.step_id, s.status) for s in steps] == [
        ("extract", StepStatus.SUCCEEDED),
        ("transform", StepStatus.FAILED),
        ("load", StepStatus.UPSTREAM_FAILED),
    ]
    assert "exit" in (steps[1].error or "")
    assert [(a.step_id, a.number, a.status) for a in attempts] == [
        ("extract", 1, "SUCCEEDED"),
        ("transform", 1, "FAILED"),
    ]


FOREACH = """
id: fe
owner: t
steps:
  - id: each
    type: foreach
    foreach:
      items: "[1, 2, 3]"
      as: n
      steps:
        - {id: inner, type: noop}
  - {id: after, type: noop, depends_on: [each]}
"""


def test_foreach_iterations_are_children_not_history(harness: Harness) -> None:
    run_id = harness.start(FOREACH)
    harness.drain(run_id)
    with harness.db.read() as conn:
        children = reads.child_runs(conn, run_id).by_step["each"]
        link = reads.parent_link(conn, children[1].id)
        body = reads.run_body(conn, children[1].id)
        recent = reads.recent_runs(conn, ["fe"])
    assert [c.iteration for c in children] == [0, 1, 2]
    assert all(c.status is RunStatus.SUCCEEDED for c in children)
    assert link == reads.ParentLink(run_id, "each", 1)
    assert body == "each"
    assert [r.id for r in recent["fe"]] == [run_id]  # iterations are not runs of the history
    assert [r.id for r in _grid(harness, "fe").runs] == [run_id]
