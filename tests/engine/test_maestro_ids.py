"""Maestro's step ids (``job.1``, ``sub-step1``) and its spelled and templated durations, end
to end through the engine and the store (SQLite and PostgreSQL)."""

from __future__ import annotations

from tests.engine.harness import Harness

DOTTED = """
id: dotted
owner: t
params: {wait: {type: string, default: "50ms"}}
steps:
  - id: job.1
    type: shell
    timeout: 20 minutes
    shell: {command: "echo hello from job.1; echo rows=3 >> $MAESTRO_OUTPUT"}
  - id: sub-step1
    type: shell
    depends_on: [job.1]
    timeout: 1 hour 30 minutes
    shell:
      command: "echo total={{ steps['job.1'].outputs.rows * 2 }} >> $MAESTRO_OUTPUT"
  - id: nap.2
    type: sleep
    depends_on: [sub-step1]
    sleep: {duration: "{{ params.wait }}"}
  - id: last
    type: noop
    depends_on: [nap.2]
    when: "{{ steps['sub-step1'].outputs.total == 6 }}"
outputs:
  total: "{{ steps['sub-step1'].outputs.total }}"
"""


def test_dotted_and_dashed_step_ids_run_end_to_end(harness: Harness) -> None:
    run_id = harness.start(DOTTED)
    view = harness.drain(run_id)
    assert view.status == "SUCCEEDED", view
    assert harness.statuses(run_id) == {
        "job.1": "SUCCEEDED",
        "sub-step1": "SUCCEEDED",
        "nap.2": "SUCCEEDED",
        "last": "SUCCEEDED",
    }
    assert view.outputs == {"total": 6}
    log = harness.settings.logs_dir / str(run_id) / "job.1" / "1.log"
    assert "hello from job.1" in log.read_text()


def test_templated_sleep_duration_in_the_spelled_form(harness: Harness) -> None:
    run_id = harness.start(DOTTED, params={"wait": "0.05 seconds"})
    assert harness.drain(run_id).status == "SUCCEEDED"


def test_templated_sleep_duration_that_is_not_a_duration_fails_the_step(
    harness: Harness,
) -> None:
    run_id = harness.start(DOTTED, params={"wait": "soon"})
    view = harness.drain(run_id)
    assert view.status == "FAILED"
    nap = next(s for s in view.steps if s.step_id == "nap.2")
    assert nap.status == "FAILED"
    assert nap.error is not None
    assert "sleep.duration: invalid duration 'soon'" in nap.error
