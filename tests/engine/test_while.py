"""The ``while`` step (Maestro's while; spec/maestro-compat.md §1), through the store (SQLite
and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from maestro.errors import DefinitionError
from maestro.store import tables
from tests.engine.harness import Harness


def counting(limit: str = "params.limit", extra: str = "") -> str:
    """Modelled on Maestro's sample-while-wf: a counter and an accumulated value, the body's
    step output read by ``update``."""
    return f"""
id: counting
owner: t
params: {{limit: {{type: int, default: 5}}}}
steps:
  - id: loop
    type: while
    while:
      condition: "i < {limit}"
      loop: {{i: 0, total: 0}}
      update:
        i: "{{{{ i + 1 }}}}"
        total: "{{{{ total + steps.body.outputs.sq }}}}"
      {extra}
      steps:
        - id: body
          type: shell
          shell: {{command: "echo sq={{{{ i * i }}}} > $MAESTRO_OUTPUT"}}
  - id: after
    type: shell
    depends_on: [loop]
    shell: {{command: "echo seen={{{{ steps.loop.outputs.count }}}} > $MAESTRO_OUTPUT"}}
"""


def test_while_counts_like_maestros_sample(harness: Harness) -> None:
    run_id = harness.start(counting())
    view = harness.drain(run_id)
    assert view.status == "SUCCEEDED"
    steps = {s.step_id: s for s in view.steps}
    assert steps["loop"].outputs == {"count": 5, "outputs": {"i": 5, "total": 0 + 1 + 4 + 9 + 16}}
    assert steps["after"].outputs == {"seen": 5}
    runs = tables.runs
    with harness.db.read() as conn:
        rows = conn.execute(
            select(runs.c.iteration, runs.c.status, runs.c.scope)
            .where(runs.c.parent_run_id == run_id)
            .order_by(runs.c.iteration)
        ).all()
    assert [r.iteration for r in rows] == [0, 1, 2, 3, 4]
    assert all(r.status == "SUCCEEDED" for r in rows)
    assert [r.scope["vars"]["i"] for r in rows] == [0, 1, 2, 3, 4]  # each iteration's values


def test_a_condition_false_at_once_runs_nothing(harness: Harness) -> None:
    view = harness.drain(harness.start(counting(), params={"limit": "0"}))
    assert view.status == "SUCCEEDED"
    loop = next(s for s in view.steps if s.step_id == "loop")
    assert loop.outputs == {"count": 0, "outputs": {"i": 0, "total": 0}}


def test_max_iterations_fails_the_step_saying_so(harness: Harness) -> None:
    view = harness.drain(harness.start(counting(extra="max_iterations: 3")))
    loop = next(s for s in view.steps if s.step_id == "loop")
    assert loop.status.value == "FAILED"
    assert "max_iterations (3) reached" in (loop.error or "")
    assert view.status == "FAILED"


def test_a_failed_iteration_fails_the_step(harness: Harness, tmp_path: Path) -> None:
    view = harness.drain(
        harness.start("""
        id: failing
        owner: t
        steps:
          - id: loop
            type: while
            while:
              condition: "n < 10"
              loop: {n: 0}
              update: {n: "{{ n + 1 }}"}
              steps:
                - {id: body, type: shell, shell: {command: "test {{ n }} -lt 2"}}
        """)
    )
    loop = next(s for s in view.steps if s.step_id == "loop")
    assert loop.status.value == "FAILED"
    assert loop.error == "iteration 2 ended FAILED"


def test_a_bad_update_fails_the_step_naming_it(harness: Harness) -> None:
    view = harness.drain(
        harness.start("""
        id: badupdate
        owner: t
        steps:
          - id: loop
            type: while
            while:
              condition: "n < 3"
              loop: {n: 0}
              update: {n: "{{ steps.nothere.outputs.x }}"}
              steps: [{id: body, type: noop}]
        """)
    )
    loop = next(s for s in view.steps if s.step_id == "loop")
    assert loop.status.value == "FAILED"
    assert (loop.error or "").startswith("while.update (after iteration 0)")


@pytest.mark.parametrize(
    ("settings", "where"),
    [
        ('{loop: {i: 0}, steps: [{id: b, type: noop}]}', "steps[0].while.condition"),
        ('{condition: "i <", steps: [{id: b, type: noop}]}', "steps[0].while.condition"),
        ('{condition: "true", steps: []}', "steps[0].while.steps"),
        ('{condition: "true", max_iterations: 0, steps: [{id: b, type: noop}]}',
         "steps[0].while.max_iterations"),
        ('{condition: "true", steps: [{id: b, type: noop, depends_on: [zz]}]}',
         "steps[0].while.steps[0].depends_on[0]"),
    ],
)  # fmt: skip
def test_bad_while_steps_are_refused_at_submit_naming_the_place(
    harness: Harness, settings: str, where: str
) -> None:
    with pytest.raises(DefinitionError) as caught:
        harness.submit(f"id: bad\nowner: t\nsteps: [{{id: w, type: while, while: {settings}}}]\n")
    assert any(str(p).startswith(where) for p in caught.value.problems), caught.value.problems
