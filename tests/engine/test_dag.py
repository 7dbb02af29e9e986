"""The DAG rules of the spec, end to end through the store (SQLite and PostgreSQL)."""

from __future__ import annotations

from tests.engine.harness import Harness


def test_chain_passes_outputs_downstream_and_sets_workflow_outputs(harness: Harness) -> None:
    run_id = harness.start(
        """
        id: chain
        owner: t
        params: {n: {type: int, default: 2}}
        outputs:
          total: "{{ steps.add.outputs.total }}"
          doubled: "x{{ steps.add.outputs.total * 2 }}"
        steps:
          - id: make
            type: shell
            shell:
              command: |
                echo '{"value": {{ params.n }}, "rows": [1, 2]}' > $MAESTRO_OUTPUT
          - id: add
            type: shell
            depends_on: [make]
            shell:
              command: |
                echo total={{ steps.make.outputs.value + steps.make.outputs.rows | length }} \\
                  >> $MAESTRO_OUTPUT
        """,
        params={"n": "40"},
    )
    view = harness.drain(run_id)
    assert view.status == "SUCCEEDED"
    steps = {s.step_id: s for s in view.steps}
    assert steps["make"].outputs == {"value": 40, "rows": [1, 2]}
    assert steps["add"].outputs == {"total": 42}
    assert view.outputs == {"total": 42, "doubled": "x84"}


DIAMOND = """
id: diamond
owner: t
steps:
  - {id: a, type: noop}
  - id: b
    type: shell
    depends_on: [a]
    shell: {command: "exit {{ params.b_exit }}"}
  - {id: c, type: noop, depends_on: [a]}
  - {id: all_success, type: noop, depends_on: [b, c]}
  - {id: all_done, type: noop, depends_on: [b, c], trigger_rule: all_done}
  - {id: one_failed, type: noop, depends_on: [b, c], trigger_rule: one_failed}
  - {id: none_failed, type: noop, depends_on: [b, c], trigger_rule: none_failed}
  - {id: after_upstream_failed, type: noop, depends_on: [all_success]}
params: {b_exit: {type: int, default: 0}}
"""


def test_trigger_rules_when_an_upstream_fails(harness: Harness) -> None:
    run_id = harness.start(DIAMOND, params={"b_exit": 3})
    view = harness.drain(run_id)
    assert harness.statuses(run_id) == {
        "a": "SUCCEEDED",
        "b": "FAILED",
        "c": "SUCCEEDED",
        "all_success": "UPSTREAM_FAILED",
        "all_done": "SUCCEEDED",
        "one_failed": "SUCCEEDED",
        "none_failed": "UPSTREAM_FAILED",
        "after_upstream_failed": "UPSTREAM_FAILED",
    }
    assert view.status == "FAILED"
    b = next(s for s in view.steps if s.step_id == "b")
    assert b.error == "command exited with code 3"


def test_trigger_rules_when_everything_succeeds(harness: Harness) -> None:
    run_id = harness.start(DIAMOND)
    view = harness.drain(run_id)
    statuses = harness.statuses(run_id)
    assert statuses["one_failed"] == "SKIPPED"
    assert statuses["all_success"] == statuses["none_failed"] == "SUCCEEDED"
    assert view.status == "SUCCEEDED"  # a SKIPPED step does not fail the run


def test_when_false_skips_and_the_skip_propagates_per_trigger_rule(harness: Harness) -> None:
    run_id = harness.start(
        """
        id: cond
        owner: t
        params: {go: {type: bool, default: false}}
        steps:
          - {id: gate, type: noop, when: "params.go"}
          - {id: strict, type: noop, depends_on: [gate]}
          - {id: tolerant, type: noop, depends_on: [gate], trigger_rule: none_failed}
          - {id: yes, type: noop, when: "not params.go and run.trigger == 'manual'"}
        """
    )
    view = harness.drain(run_id)
    assert harness.statuses(run_id) == {
        "gate": "SKIPPED",
        "strict": "SKIPPED",
        "tolerant": "SUCCEEDED",
        "yes": "SUCCEEDED",
    }
    assert view.status == "SUCCEEDED"


def test_a_bad_when_expression_fails_the_step_with_the_expression(harness: Harness) -> None:
    run_id = harness.start(
        """
        id: badwhen
        owner: t
        steps:
          - {id: a, type: noop, when: "steps.nope.outputs.x > 1"}
          - {id: b, type: noop}
        """
    )
    view = harness.drain(run_id)
    a = next(s for s in view.steps if s.step_id == "a")
    assert a.status == "FAILED"
    assert a.error is not None and a.error.startswith("when: expression 'steps.nope.outputs.x > 1'")
    assert harness.statuses(run_id)["b"] == "SUCCEEDED"
    assert view.status == "FAILED"


def test_on_failure_ignore_counts_as_success_downstream(harness: Harness) -> None:
    run_id = harness.start(
        """
        id: ignore
        owner: t
        steps:
          - {id: flaky, type: shell, shell: {command: "exit 1"}, on_failure: ignore}
          - {id: next, type: noop, depends_on: [flaky]}
        """
    )
    view = harness.drain(run_id)
    assert harness.statuses(run_id) == {"flaky": "FAILED_IGNORED", "next": "SUCCEEDED"}
    assert view.status == "SUCCEEDED"


def test_on_failure_fail_run_stops_everything_at_once(harness: Harness) -> None:
    run_id = harness.start(
        """
        id: failrun
        owner: t
        steps:
          - {id: boom, type: shell, shell: {command: "exit 1"}, on_failure: fail_run}
          - {id: slow, type: sleep, sleep: {duration: 1h}, priority: -1}
          - {id: later, type: noop, depends_on: [boom], trigger_rule: all_done}
        """
    )
    # boom runs first (higher priority); slow is dispatched but not executed yet
    harness.dispatcher.pending.sort(key=lambda d: -d.priority)
    first = harness.dispatcher.pending.pop(0)
    harness.executor.execute(first.attempt_id)
    view = harness.view(run_id)
    assert view.status == "FAILED"
    assert view.error == "step 'boom' failed (on_failure: fail_run)"
    assert harness.statuses(run_id) == {"boom": "FAILED", "slow": "STOPPED", "later": "STOPPED"}
    assert harness.dispatcher.cancelled  # the queued attempt of `slow` was told to stop
    harness.step_once()  # a late delivery of slow's attempt finds nothing to claim
    assert harness.statuses(run_id)["slow"] == "STOPPED"


def test_finish_running_lets_independent_branches_finish(harness: Harness) -> None:
    run_id = harness.start(
        """
        id: finish
        owner: t
        steps:
          - {id: boom, type: shell, shell: {command: "exit 1"}}
          - {id: after_boom, type: noop, depends_on: [boom]}
          - {id: other, type: noop}
          - {id: after_other, type: noop, depends_on: [other]}
        """
    )
    view = harness.drain(run_id)
    assert harness.statuses(run_id) == {
        "boom": "FAILED",
        "after_boom": "UPSTREAM_FAILED",
        "other": "SUCCEEDED",
        "after_other": "SUCCEEDED",
    }
    assert view.status == "FAILED"
    assert view.error == "boom failed; 1 step not run because of it"  # API, CLI and web say so
