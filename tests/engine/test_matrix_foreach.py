"""foreach over a ``matrix`` (Maestro's loop_params) and ``strict_ordering``, through the store
(SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from maestro.engine import actions
from maestro.errors import DefinitionError
from maestro.reads.runs import run_detail
from maestro.store import tables
from tests.engine.harness import Harness


def test_a_matrix_iterates_the_cross_product_with_each_name_in_scope(
    harness: Harness, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    view = harness.drain(
        harness.start(f"""
        id: matrix
        owner: t
        params: {{letters: {{type: list, default: [a, b]}}}}
        steps:
          - id: grid
            type: foreach
            foreach:
              matrix: {{i: "{{{{ range(1, 4) | list }}}}", j: "params.letters"}}
              concurrency: 4
              steps:
                - id: cell
                  type: shell
                  shell:
                    command: >
                      echo {{{{ index }}}}:{{{{ i }}}}{{{{ j }}}} >> {marks};
                      echo cell={{{{ i }}}}{{{{ j }}}} > $MAESTRO_OUTPUT
        """)
    )
    assert view.status == "SUCCEEDED"
    assert sorted(marks.read_text().split()) == [
        "0:1a", "1:1b", "2:2a", "3:2b", "4:3a", "5:3b",  # the first name varies slowest
    ]  # fmt: skip
    grid = next(s for s in view.steps if s.step_id == "grid")
    assert grid.outputs["count"] == 6
    assert [o["cell"]["cell"] for o in grid.outputs["outputs"]] == [
        "1a", "1b", "2a", "2b", "3a", "3b",
    ]  # fmt: skip


def test_nested_loops_see_the_outer_names_and_their_own_item_first(
    harness: Harness, tmp_path: Path
) -> None:
    """An inner foreach's ``item`` is its own, not the enclosing iteration's of the same name;
    the outer matrix names stay in scope."""
    marks = tmp_path / "marks"
    view = harness.drain(
        harness.start(f"""
        id: nested
        owner: t
        steps:
          - id: outer
            type: foreach
            foreach:
              matrix: {{x: [1, 2]}}
              steps:
                - id: inner
                  type: foreach
                  foreach:
                    items: "['p', 'q']"
                    steps:
                      - id: leaf
                        type: shell
                        shell: {{command: "echo {{{{ x }}}}{{{{ item }}}} >> {marks}"}}
        """)
    )
    assert view.status == "SUCCEEDED"
    assert sorted(marks.read_text().split()) == ["1p", "1q", "2p", "2q"]


def test_strict_ordering_starts_iteration_n_plus_concurrency_after_n_ended(
    harness: Harness,
) -> None:
    run_id = harness.start("""
        id: strict
        owner: t
        steps:
          - id: fan
            type: foreach
            foreach:
              items: "range(6) | list"
              concurrency: 2
              strict_ordering: true
              steps:  # even iterations take two steps, odd ones one: they end out of order
                - {id: a, type: noop}
                - {id: b, type: noop, depends_on: [a], when: "index % 2 == 0"}
        """)
    runs = tables.runs
    seen: list[tuple[int, ...]] = []
    while True:
        with harness.db.read() as conn:
            rows = conn.execute(
                select(runs.c.iteration, runs.c.status).where(runs.c.parent_run_id == run_id)
            ).all()
        unfinished = [i for i, st in rows if st in ("RUNNING", "PAUSED")]
        started = [i for i, st in rows if st != "QUEUED"]
        if unfinished:
            # nothing started beyond the oldest unfinished iteration's window
            assert max(started) < min(unfinished) + 2, rows
            seen.append(tuple(sorted(unfinished)))
        if not harness.step_once():
            break
    assert harness.drain(run_id).status == "SUCCEEDED"
    assert seen  # the window was observed while iterations ran


def test_a_matrix_too_large_fails_the_step_naming_the_sizes(harness: Harness) -> None:
    view = harness.drain(
        harness.start("""
        id: huge
        owner: t
        steps:
          - id: grid
            type: foreach
            foreach:
              matrix: {a: "range(200) | list", b: "range(200) | list"}
              steps: [{id: s, type: noop}]
        """)
    )
    grid = next(s for s in view.steps if s.step_id == "grid")
    assert grid.status.value == "FAILED"
    assert "40000 iterations (200 a × 200 b)" in (grid.error or "")


@pytest.mark.parametrize(
    ("foreach", "where"),
    [
        ('{items: "[1]", matrix: {a: [1]}, steps: [{id: s, type: noop}]}', "steps[0].foreach"),
        ("{steps: [{id: s, type: noop}]}", "steps[0].foreach"),
        ('{matrix: {a: "1 +"}, steps: [{id: s, type: noop}]}', "steps[0].foreach.matrix.a"),
        ("{matrix: {a: 3}, steps: [{id: s, type: noop}]}", "steps[0].foreach.matrix.a"),
    ],
)
def test_bad_matrices_are_refused_at_submit_naming_the_place(
    harness: Harness, foreach: str, where: str
) -> None:
    with pytest.raises(DefinitionError) as caught:
        harness.submit(
            f"id: bad\nowner: t\nsteps: [{{id: f, type: foreach, foreach: {foreach}}}]\n"
        )
    assert any(str(p).startswith(where) for p in caught.value.problems), caught.value.problems


def test_maestros_large_foreach_shape_completes(harness: Harness) -> None:
    """Maestro's sample-large-foreach-wf: 366 dates × 3 letters = 1,098 iterations at
    concurrency 100, each a step with a step param and a second step (Maestro's is a Sleep;
    a noop here: the harness's fake clock makes sleeps slow to drain). On SQLite only (~20 s;
    the suite's time budget): the store's part is the same SQL as the small tests above."""
    if harness.db.engine.dialect.name != "sqlite":
        pytest.skip("run once, on SQLite")
    run_id = harness.start("""
        id: large
        owner: t
        params: {letters: {type: list, default: [a, b, c]}}
        steps:
          - id: job1
            type: foreach
            foreach:
              matrix: {i: "range(20200101, 20200101 + 366) | list", j: "params.letters"}
              concurrency: 100
              steps:
                - {id: job2, type: noop, params: {param2: "{{ i ~ j }}"}}
                - {id: job.2, type: noop, depends_on: [job2]}
        """)
    view = harness.drain(run_id, max_rounds=100_000)
    assert view.status == "SUCCEEDED"
    job1 = next(s for s in view.steps if s.step_id == "job1")
    assert job1.outputs["count"] == 1098 and job1.children_total == 1098
    assert job1.outputs["outputs"][-1] == {"job2": {}, "job.2": {}}
    with harness.db.read() as conn:
        last = conn.execute(
            select(tables.step_runs.c.params)
            .select_from(tables.step_runs.join(tables.runs))
            .where(tables.runs.c.parent_run_id == run_id, tables.runs.c.iteration == 1097)
            .where(tables.step_runs.c.step_id == "job2")
        ).scalar_one()
    assert last == {"param2": "20200466c"}


def test_a_matrix_foreach_restarts_and_stops_like_an_items_one(
    harness: Harness, tmp_path: Path
) -> None:
    fixed = tmp_path / "fixed"
    run_id = harness.start(f"""
        id: mxr
        owner: t
        steps:
          - id: grid
            type: foreach
            foreach:
              matrix: {{i: [1, 2], j: [a, b]}}
              concurrency: 2
              steps:
                - id: cell
                  type: shell
                  shell:
                    command: "test {{{{ i }}}}{{{{ j }}}} != 2b || test -f {fixed}"
        """)
    view = harness.drain(run_id)
    assert view.status == "FAILED"
    assert {s.step_id: s for s in view.steps}["grid"].error == "1 of 4 iterations did not succeed"
    fixed.touch()
    again = actions.restart_run(harness.engine, run_id, "ops")
    assert harness.drain(again).status == "SUCCEEDED"
    runs = tables.runs
    with harness.db.read() as conn:
        scopes = conn.execute(
            select(runs.c.scope).where(runs.c.parent_run_id == again).order_by(runs.c.iteration)
        ).scalars()
        assert [s["vars"] for s in scopes][3] == {"i": 2, "j": "b"}
        assert run_detail(conn, again).iteration_values is None  # not an iteration

    slow = harness.start("""
        id: mxs
        owner: t
        steps:
          - id: grid
            type: foreach
            foreach:
              matrix: {i: [1, 2], j: [a, b, c]}
              concurrency: 2
              steps: [{id: w, type: sleep, sleep: {duration: 1h}}]
        """)
    with harness.db.read() as conn:
        first = conn.execute(
            select(runs.c.id).where(runs.c.parent_run_id == slow, runs.c.iteration == 4)
        ).scalar_one()
        assert run_detail(conn, first).iteration_values == {"i": 2, "j": "b"}
    actions.stop_run(harness.engine, slow, "ops")
    with harness.db.read() as conn:
        statuses = conn.execute(select(runs.c.status).where(runs.c.parent_run_id == slow))
        assert set(statuses.scalars()) == {"STOPPED"}
    assert harness.statuses(slow) == {"grid": "STOPPED"}
