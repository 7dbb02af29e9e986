"""foreach and subworkflow: child runs, their scope, outputs, failures and stops."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from maestro.engine import actions
from maestro.engine.runs import create_run
from maestro.engine.start import start_run
from maestro.store import tables
from tests.engine.harness import Harness


def test_foreach_runs_its_body_once_per_item_with_the_item_in_scope(
    harness: Harness, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    run_id = harness.start(f"""
        id: fe
        owner: t
        params: {{tables: {{type: list, default: [plays, ratings, users]}}}}
        steps:
          - {{id: prep, type: shell, shell: {{command: "echo suffix=_v2 >> $MAESTRO_OUTPUT"}}}}
          - id: per_table
            type: foreach
            depends_on: [prep]
            foreach:
              items: "params.tables"
              as: table
              concurrency: 2
              steps:
                - id: check
                  type: shell
                  shell:
                    command: >
                      echo {{{{ index }}}}:{{{{ table }}}} >> {marks};
                      echo name={{{{ table }}}}{{{{ steps.prep.outputs.suffix }}}}
                      >> $MAESTRO_OUTPUT
                - {{id: after, type: noop, depends_on: [check]}}
          - id: summary
            type: noop
            depends_on: [per_table]
            when: "steps.per_table.outputs.count == 3"
        outputs:
          names: >-
            {{{{ steps.per_table.outputs.outputs | map(attribute='check')
            | map(attribute='name') | list }}}}
        """)
    view = harness.drain(run_id)
    assert view.status == "SUCCEEDED"
    assert view.outputs == {"names": ["plays_v2", "ratings_v2", "users_v2"]}
    assert sorted(marks.read_text().split()) == ["0:plays", "1:ratings", "2:users"]
    assert harness.statuses(run_id)["summary"] == "SUCCEEDED"
    runs = tables.runs
    with harness.db.read() as conn:
        children = conn.execute(
            select(runs.c.iteration, runs.c.status, runs.c.parent_run_id)
            .where(runs.c.parent_run_id == run_id)
            .order_by(runs.c.iteration)
        ).all()
    assert [tuple(c) for c in children] == [(i, "SUCCEEDED", run_id) for i in range(3)]


def test_foreach_concurrency_bounds_the_iterations_running_at_once(harness: Harness) -> None:
    run_id = harness.start("""
        id: conc
        owner: t
        steps:
          - id: fan
            type: foreach
            foreach: {items: "range(5) | list", concurrency: 2, steps: [{id: s, type: noop}]}
        """)
    runs = tables.runs
    while True:
        with harness.db.read() as conn:
            active = conn.execute(
                select(func.count()).where(
                    runs.c.parent_run_id == run_id, runs.c.status == "RUNNING"
                )
            ).scalar_one()
        assert active <= 2
        if not harness.step_once():
            break
    assert harness.drain(run_id).status == "SUCCEEDED"


def test_nested_foreach_three_by_four_makes_twelve_leaf_executions(
    harness: Harness, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    run_id = harness.start(f"""
        id: nested
        owner: t
        steps:
          - id: outer
            type: foreach
            foreach:
              items: "['a', 'b', 'c']"
              as: letter
              concurrency: 3
              steps:
                - id: inner
                  type: foreach
                  foreach:
                    items: "[1, 2, 3, 4]"
                    as: n
                    concurrency: 4
                    steps:
                      - id: leaf
                        type: shell
                        shell: {{command: "echo {{{{ letter }}}}{{{{ n }}}} >> {marks}"}}
        """)
    view = harness.drain(run_id)
    assert view.status == "SUCCEEDED"
    leaves = marks.read_text().split()
    assert len(leaves) == 12 and len(set(leaves)) == 12
    assert sorted(leaves)[:4] == ["a1", "a2", "a3", "a4"]
    outer = next(s for s in view.steps if s.step_id == "outer")
    assert outer.outputs["count"] == 3
    assert [o["inner"]["count"] for o in outer.outputs["outputs"]] == [4, 4, 4]


def test_a_failed_iteration_fails_the_step_after_the_others_and_fail_fast_stops_them(
    harness: Harness,
) -> None:
    text = """
        id: ff{ff}
        owner: t
        steps:
          - id: fan
            type: foreach
            foreach:
              items: "[0, 1, 2, 3]"
              concurrency: 1
              fail_fast: {ff}
              steps: [{{id: s, type: shell, shell: {{command: "test {{{{ item }}}} != 1"}}}}]
        """
    slow = harness.drain(harness.start(text.format(ff="false")))
    fan = slow.steps[0]
    assert (fan.status.value, fan.error) == ("FAILED", "1 of 4 iterations did not succeed")
    fast_id = harness.start(text.format(ff="true"))
    fast = harness.drain(fast_id)
    assert fast.steps[0].error == "iteration 1 ended FAILED (fail_fast)"
    runs = tables.runs
    with harness.db.read() as conn:
        statuses = (
            conn.execute(
                select(runs.c.status)
                .where(runs.c.parent_run_id == fast_id)
                .order_by(runs.c.iteration)
            )
            .scalars()
            .all()
        )
    assert statuses == ["SUCCEEDED", "FAILED", "STOPPED", "STOPPED"]


def test_an_empty_foreach_succeeds_and_a_bad_items_expression_fails_the_step(
    harness: Harness,
) -> None:
    view = harness.drain(
        harness.start("""
        id: empty
        owner: t
        steps:
          - {id: e, type: foreach, foreach: {items: "[]", steps: [{id: s, type: noop}]}}
          - {id: bad, type: foreach, foreach: {items: "'not a list'", steps: [{id: s, type: noop}]}}
        """)
    )
    steps = {s.step_id: s for s in view.steps}
    assert steps["e"].outputs == {"count": 0, "outputs": []}
    assert steps["bad"].status == "FAILED"
    assert steps["bad"].error == "foreach.items must give a list, not str"


CHILD = """
id: child
owner: t
params: {x: {type: int}}
outputs: {doubled: "{{ steps.calc.outputs.v }}"}
steps:
  - {id: calc, type: shell, shell: {command: "echo v={{ params.x * 2 }} >> $MAESTRO_OUTPUT"}}
"""


def test_subworkflow_waits_for_its_child_and_takes_its_outputs(harness: Harness) -> None:
    harness.submit(CHILD)
    run_id = harness.start("""
        id: parent
        owner: t
        steps:
          - id: sub
            type: subworkflow
            subworkflow: {workflow: child, params: {x: 21}}
          - id: fire
            type: subworkflow
            subworkflow: {workflow: child, params: {x: 1}, wait: false}
          - {id: after, type: noop, depends_on: [sub], when: "steps.sub.outputs.doubled == 42"}
        """)
    view = harness.drain(run_id)
    steps = {s.step_id: s for s in view.steps}
    assert view.status == "SUCCEEDED"
    assert steps["sub"].outputs == {"doubled": 42}
    assert steps["after"].status == "SUCCEEDED"
    assert steps["fire"].outputs["workflow_id"] == "child"
    fired = harness.view(steps["fire"].outputs["run_id"])
    assert fired.workflow_id == "child"


def test_a_subworkflow_cycle_is_refused_at_start(harness: Harness) -> None:
    harness.submit("""
        id: b
        owner: t
        steps: [{id: back, type: subworkflow, subworkflow: {workflow: a}}]
        """)
    view = harness.drain(
        harness.start("""
        id: a
        owner: t
        steps: [{id: go, type: subworkflow, subworkflow: {workflow: b}}]
        """)
    )
    assert view.status == "FAILED"
    with harness.db.read() as conn:
        error = conn.execute(
            select(tables.step_runs.c.error).where(tables.step_runs.c.step_id == "back")
        ).scalar_one()
    assert error == "subworkflow cycle refused: a → b → a"


def test_a_subworkflow_of_a_version_that_does_not_exist_fails_its_step(harness: Harness) -> None:
    harness.submit(CHILD)
    view = harness.drain(
        harness.start("""
        id: wants_v9
        owner: t
        steps: [{id: sub, type: subworkflow, subworkflow: {workflow: child, version: 9}}]
        """)
    )
    assert view.status == "FAILED"
    with harness.db.read() as conn:
        error = conn.execute(
            select(tables.step_runs.c.error).where(tables.step_runs.c.step_id == "sub")
        ).scalar_one()
    assert error == "workflow 'child' has no version 9 (latest: 1)"


def test_stopping_the_parent_stops_its_children(harness: Harness) -> None:
    harness.submit("""
        id: slowchild
        owner: t
        steps: [{id: wait, type: sleep, sleep: {duration: 1h}}]
        """)
    run_id = harness.start("""
        id: stopper
        owner: t
        steps:
          - {id: sub, type: subworkflow, subworkflow: {workflow: slowchild}}
          - id: fan
            type: foreach
            foreach: {items: "[1, 2]", steps: [{id: w, type: sleep, sleep: {duration: 1h}}]}
        """)
    actions.stop_run(harness.engine, run_id, "ops")
    runs = tables.runs
    with harness.db.read() as conn:
        children = (
            conn.execute(select(runs.c.status).where(runs.c.parent_run_id == run_id))
            .scalars()
            .all()
        )
    assert len(children) == 3 and set(children) == {"STOPPED"}
    assert harness.statuses(run_id) == {"sub": "STOPPED", "fan": "STOPPED"}


TEAM_A_CHILD = """
id: a_child
owner: team-a
{callable_by}
steps:
  - {{id: work, type: noop}}
"""


def _start_as(harness: Harness, actor: str, yaml_text: str) -> int:
    workflow_id = harness.submit(yaml_text)
    with harness.engine.unit(actor=actor) as u:
        run_id = create_run(u, harness.engine.versions, workflow_id)
        start_run(u, harness.engine.versions, run_id)
    return run_id


TEAM_B_PARENT = """
id: b_parent
owner: team-b
steps:
  - {id: sub, type: subworkflow, subworkflow: {workflow: a_child}}
"""


def test_another_owners_workflow_is_no_subworkflow_unless_it_says_so(harness: Harness) -> None:
    harness.submit(TEAM_A_CHILD.format(callable_by=""))
    view = harness.drain(_start_as(harness, "bob", TEAM_B_PARENT))
    assert view.status == "FAILED"
    sub = next(s for s in view.steps if s.step_id == "sub")
    assert sub.error == (
        "workflow 'a_child' of owner 'team-a' may not be started by a workflow of owner "
        "'team-b': its callable_by does not list 'team-b'"
    )
    with harness.db.read() as conn:
        children = conn.execute(
            select(tables.runs.c.id).where(tables.runs.c.workflow_id == "a_child")
        ).all()
    assert children == []  # nothing of team-a ran


@pytest.mark.parametrize("callable_by", ["callable_by: [team-b]", "callable_by: ['*']"])
def test_callable_by_lets_another_owner_start_it_and_the_starter_is_recorded(
    harness: Harness, callable_by: str
) -> None:
    harness.submit(TEAM_A_CHILD.format(callable_by=callable_by))
    parent = _start_as(harness, "bob", TEAM_B_PARENT)
    view = harness.drain(parent)
    assert view.status == "SUCCEEDED"
    events = tables.events
    with harness.db.read() as conn:
        child = conn.execute(
            select(tables.runs.c.id).where(tables.runs.c.parent_run_id == parent)
        ).scalar_one()
        created = conn.execute(
            select(events.c.actor).where(events.c.run_id == child).order_by(events.c.id).limit(1)
        ).scalar_one()
    assert created == "bob"  # who started the parent, not "system"


def test_the_same_owner_needs_no_callable_by(harness: Harness) -> None:
    harness.submit(TEAM_A_CHILD.format(callable_by=""))
    parent = TEAM_B_PARENT.replace("b_parent", "a_parent").replace("team-b", "team-a")
    assert harness.drain(_start_as(harness, "alice", parent)).status == "SUCCEEDED"


def test_every_foreach_iteration_starts_its_history_with_a_queued_event(
    harness: Harness,
) -> None:
    run_id = harness.start("""
        id: loop_events
        owner: t
        steps:
          - id: each
            type: foreach
            foreach: {items: [a, b, c], steps: [{id: s, type: noop}]}
        """)
    assert harness.drain(run_id).status == "SUCCEEDED"
    runs, events = tables.runs, tables.events
    with harness.db.read() as conn:
        children = (
            conn.execute(
                select(runs.c.id).where(runs.c.parent_run_id == run_id).order_by(runs.c.iteration)
            )
            .scalars()
            .all()
        )
        firsts = [
            conn.execute(
                select(events.c.entity, events.c.from_status, events.c.to_status)
                .where(events.c.run_id == child)
                .order_by(events.c.id)
                .limit(1)
            ).one()
            for child in children
        ]
    assert len(children) == 3
    assert [tuple(f) for f in firsts] == [("run", None, "QUEUED")] * 3


def test_a_subworkflow_passes_undeclared_params_only_when_told(harness: Harness) -> None:
    """Maestro passes params a child does not declare as run params of the child
    (``pass_undeclared``, set by the Maestro import); by default the child is refused."""
    harness.submit(CHILD)
    run_id = harness.start("""
        id: parent
        owner: t
        steps:
          - id: strict
            type: subworkflow
            subworkflow: {workflow: child, params: {x: 21, extra: {foo: bar}}}
          - id: lenient
            type: subworkflow
            subworkflow:
              {workflow: child, params: {x: 21, extra: {foo: bar}}, pass_undeclared: true}
        """)
    view = harness.drain(run_id)
    steps = {s.step_id: s for s in view.steps}
    assert steps["strict"].status.value == "FAILED"
    assert "unknown param 'extra'" in (steps["strict"].error or "")
    assert steps["lenient"].status.value == "SUCCEEDED"
    assert steps["lenient"].outputs == {"doubled": 42}
    with harness.db.read() as conn:
        child = conn.execute(
            select(tables.runs.c.params).where(
                tables.runs.c.parent_run_id == run_id, tables.runs.c.status == "SUCCEEDED"
            )
        ).scalar_one()
    assert child == {"x": 21, "extra": {"foo": "bar"}}  # declared ones typed, the rest as given


def test_an_iteration_end_sees_the_parent_runs_status_as_it_is_now(harness: Harness) -> None:
    """The parent run's row is read once per process (it never changes but for its status);
    its status comes fresh with every child's end: an ended parent starts no iteration."""
    harness.executor.follow = None  # one iteration per step_once
    run_id = harness.start("""
        id: fresh_parent
        owner: t
        steps:
          - id: each
            type: foreach
            foreach: {items: "range(3) | list", concurrency: 1, steps: [{id: s, type: noop}]}
        """)
    runs = tables.runs
    harness.step_once()  # iteration 0 ends (its parent row read), iteration 1 starts
    with harness.db.tx() as conn:  # the parent ends elsewhere, its children left as they are
        conn.execute(update(runs).where(runs.c.id == run_id).values(status="FAILED"))
    harness.step_once()  # iteration 1 ends
    with harness.db.read() as conn:
        statuses = conn.execute(
            select(runs.c.status).where(runs.c.parent_run_id == run_id).order_by(runs.c.iteration)
        ).scalars()
        assert list(statuses) == ["SUCCEEDED", "SUCCEEDED", "QUEUED"]
