"""Step params and conditional edges (spec/maestro-compat.md §1), end to end through the store
(SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from maestro.engine import actions
from maestro.errors import DefinitionError
from maestro.reads.workflows import workflow_detail
from tests.engine.harness import Harness

#: Maestro's sample-conditional-wf, in our YAML: job.3's param2 decides the branch
CONDITIONAL = """
id: conditional
owner: t
params: {param0: {type: int, default: 15}}
steps:
  - {id: job.1, type: noop}
  - {id: job.2, type: noop, depends_on: [{step: job.1, if: "true"}]}
  - id: job.3
    type: noop
    depends_on: [job.2]
    params:
      param1: {type: int, value: 15}
      param2: {type: int, value: "{{ params.param0 }}"}
  - id: job.4
    type: noop
    depends_on: [{step: job.3, if: "param2 < 0"}]
    params: {param3: {type: int, value: 15}}
  - id: job.5
    type: noop
    depends_on: [{step: job.4, if: "steps['job.3'].params.param2 > 0"}]
    params: {param4: 15}
  - id: job.6
    type: noop
    depends_on:
      - {step: job.3, if: "param2 >= 0"}
      - {step: job.5, if: "params.param3 > 0"}
  - id: job.7
    type: noop
    depends_on: [{step: job.6, if: "true"}]
    params: {param5: {type: int, value: "{{ params.param0 }}"}}
"""


def test_maestros_conditional_sample_runs_one_branch(harness: Harness) -> None:
    view = harness.drain(harness.start(CONDITIONAL))
    assert view.status == "SUCCEEDED"
    steps = {s.step_id: s for s in view.steps}
    assert {k: s.status.value for k, s in steps.items()} == {
        "job.1": "SUCCEEDED",
        "job.2": "SUCCEEDED",
        "job.3": "SUCCEEDED",
        "job.4": "SKIPPED",
        "job.5": "SKIPPED",
        "job.6": "SUCCEEDED",  # any_taken: job.3's edge was, job.5 was skipped
        "job.7": "SUCCEEDED",
    }
    assert steps["job.3"].params == {"param1": 15, "param2": 15}
    assert steps["job.7"].params == {"param5": 15}
    assert steps["job.4"].params == {}  # never about to run: nothing rendered


def test_the_other_branch_when_the_param_says_so(harness: Harness) -> None:
    view = harness.drain(harness.start(CONDITIONAL, params={"param0": "-1"}))
    assert view.status == "SUCCEEDED"
    statuses = {s.step_id: s.status.value for s in view.steps}
    assert statuses["job.4"] == "SUCCEEDED"
    # job.5's edge reads job.3's param2 (-1 > 0 is false): skipped; job.6 waits for both
    # branches, and job.3's edge to it (param2 >= 0) is not taken either
    assert statuses["job.5"] == "SKIPPED"
    assert statuses["job.6"] == "SKIPPED" and statuses["job.7"] == "SKIPPED"


def test_step_params_shadow_run_params_in_the_step_and_reach_downstream(
    harness: Harness,
) -> None:
    view = harness.drain(
        harness.start(
            """
            id: shadow
            owner: t
            params: {region: {default: eu}, n: {type: int, default: 2}}
            steps:
              - id: make
                type: shell
                params:
                  twice: {type: int, value: "{{ params.next * 2 }}"}  # needs next: any order
                  region: us
                  next: {type: int, value: "{{ params.n + 1 }}"}
                when: "params.region == 'us'"
                shell:
                  command: "echo seen={{ params.region }}-{{ params.next }} > $MAESTRO_OUTPUT"
              - id: use
                type: shell
                depends_on: [make]
                shell:
                  command: >
                    echo got={{ steps.make.params.twice }}-{{ params.region }}
                    > $MAESTRO_OUTPUT
            """
        )
    )
    assert view.status == "SUCCEEDED"
    steps = {s.step_id: s for s in view.steps}
    assert steps["make"].params == {"twice": 6, "region": "us", "next": 3}
    assert steps["make"].outputs == {"seen": "us-3"}
    assert steps["use"].outputs == {"got": "6-eu"}  # the run's own region downstream
    assert view.as_json()["steps"]["make"]["params"]["twice"] == 6


def test_a_bad_step_param_fails_its_step_naming_it(harness: Harness) -> None:
    view = harness.drain(
        harness.start(
            """
            id: badparam
            owner: t
            steps:
              - id: s
                type: noop
                params: {n: {type: int, value: "{{ 'x' ~ 1 }}"}}
              - {id: after, type: noop, depends_on: [s]}
            """
        )
    )
    assert view.status == "FAILED"
    steps = {s.step_id: s for s in view.steps}
    assert steps["s"].status.value == "FAILED"
    assert steps["s"].error is not None and "steps.s.params.n" in steps["s"].error
    assert steps["after"].status.value == "UPSTREAM_FAILED"


def test_a_condition_that_cannot_be_evaluated_fails_the_downstream_naming_the_edge(
    harness: Harness,
) -> None:
    view = harness.drain(
        harness.start(
            """
            id: badedge
            owner: t
            steps:
              - {id: a, type: noop}
              - {id: b, type: noop}
              - {id: c, type: noop, depends_on: [b, {step: a, if: "no_such_name > 1"}]}
            """
        )
    )
    steps = {s.step_id: s for s in view.steps}
    assert steps["c"].status.value == "FAILED"
    assert "steps.c.depends_on[1].if (from a)" in (steps["c"].error or "")


def test_rules_with_edges_not_taken(harness: Harness) -> None:
    """An edge not taken counts as a skipped upstream: all_success skips, none_failed and
    all_done run; explicit any_taken on plain edges runs when one upstream is ok; a failed
    upstream with nothing taken is an upstream failure."""
    view = harness.drain(
        harness.start(
            """
            id: rules
            owner: t
            steps:
              - {id: a, type: shell, shell: {command: "echo v=1 > $MAESTRO_OUTPUT"}}
              - {id: bad, type: shell, shell: {command: "exit 3"}, on_failure: finish_running}
              - id: strict
                type: noop
                trigger_rule: all_success
                depends_on: [{step: a, if: "v == 2"}]
              - id: lenient
                type: noop
                trigger_rule: none_failed
                depends_on: [{step: a, if: "outputs.v == 2"}]
              - id: join
                type: noop
                trigger_rule: any_taken
                depends_on: [bad, a]
              - id: none_taken
                type: noop
                depends_on: [bad, {step: a, if: "v > 5"}]
            """
        )
    )
    statuses = {s.step_id: s.status.value for s in view.steps}
    assert statuses["strict"] == "SKIPPED"
    assert statuses["lenient"] == "SUCCEEDED"
    assert statuses["join"] == "SUCCEEDED"
    assert statuses["none_taken"] == "UPSTREAM_FAILED"


def test_a_skipped_upstream_does_not_block_an_any_taken_join(harness: Harness) -> None:
    view = harness.drain(
        harness.start(
            """
            id: join
            owner: t
            steps:
              - {id: a, type: noop}
              - {id: maybe, type: noop, depends_on: [a], when: "false"}
              - {id: join, type: noop, depends_on: [maybe, {step: a, if: "true"}]}
            """
        )
    )
    statuses = {s.step_id: s.status.value for s in view.steps}
    assert statuses == {"a": "SUCCEEDED", "maybe": "SKIPPED", "join": "SUCCEEDED"}


@pytest.mark.parametrize(
    ("steps", "where"),
    [
        ('[{id: a, type: noop}, {id: b, type: noop, depends_on: [{step: a, if: "1 +"}]}]',
         "steps[1].depends_on[0].if"),
        ('[{id: a, type: noop}, {id: b, type: noop, depends_on: [{step: zz, if: "true"}]}]',
         "steps[1].depends_on[0]"),
        ('[{id: a, type: noop}, {id: b, type: noop, depends_on: [{stp: a}]}]',
         "steps[1].depends_on[0]"),
        ('[{id: a, type: noop, params: {n: {type: integer, value: 1}}}]',
         "steps[0].params.n.type"),
        ('[{id: a, type: noop, params: {n: "{{ 1 + }}"}}]', "steps[0].params.n"),
    ],
)  # fmt: skip
def test_bad_edges_and_params_are_refused_at_submit_naming_the_place(
    harness: Harness, steps: str, where: str
) -> None:
    with pytest.raises(DefinitionError) as caught:
        harness.submit(f"id: bad\nowner: t\nsteps: {steps}\n")
    assert any(str(p).startswith(where) for p in caught.value.problems), caught.value.problems


def test_a_definition_with_edges_and_params_round_trips_through_the_store(
    harness: Harness,
) -> None:
    """The stored definition keeps the edges as written (``if``), and re-reads the same."""
    harness.submit(CONDITIONAL)
    with harness.db.engine.connect() as conn:
        stored = workflow_detail(conn, "conditional").definition
    job6 = next(s for s in stored["steps"] if s["id"] == "job.6")
    assert job6["depends_on"][0] == {"step": "job.3", "if": "param2 >= 0"}
    assert job6["trigger_rule"] == "any_taken"


def test_a_restart_keeps_a_reused_steps_params_for_its_downstream(
    harness: Harness, tmp_path: Path
) -> None:
    fixed = tmp_path / "fixed"
    run_id = harness.start(f"""
        id: restart
        owner: t
        steps:
          - {{id: make, type: noop, params: {{n: {{type: int, value: 41}}}}}}
          - id: use
            type: shell
            depends_on: [{{step: make, if: "n > 40"}}]
            shell:
              command: >
                test -f {fixed} && echo got={{{{ steps.make.params.n + 1 }}}} > $MAESTRO_OUTPUT
        """)
    assert harness.drain(run_id).status == "FAILED"
    fixed.touch()
    again = actions.restart_run(harness.engine, run_id, "ops")  # from the failed step
    view = harness.drain(again)
    assert view.status == "SUCCEEDED"
    steps = {s.step_id: s for s in view.steps}
    assert steps["make"].params == {"n": 41}  # reused, with its params
    assert steps["use"].outputs == {"got": 42}


def test_a_step_timeout_may_be_a_template_rendered_in_the_steps_scope(harness: Harness) -> None:
    """``timeout`` renders when the attempt starts, with the step's params (Maestro's
    templated timeouts); a render that gives no duration fails the step permanently."""
    view = harness.drain(
        harness.start(
            """
            id: ttl
            owner: t
            params: {limit: {default: "1 second"}}
            steps:
              - id: slow
                type: shell
                params: {t: "{{ params.limit }}"}
                timeout: "{{ params.t }}"
                shell: {command: "exec sleep 30"}
              - id: bad
                type: noop
                timeout: "{{ 'soon' }}"
                retries: {limit: 3}
            """
        )
    )
    steps = {s.step_id: s for s in view.steps}
    assert steps["slow"].status.value == "TIMED_OUT"
    assert steps["slow"].error == "timed out after 1s"
    assert steps["bad"].status.value == "FAILED" and steps["bad"].attempt_count == 1
    assert (steps["bad"].error or "").startswith("timeout: ")
