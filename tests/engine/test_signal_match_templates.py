"""A ``wait_for`` match's templates are rendered when the step starts waiting: the rendered
match is what is stored (and shown), and what signals are compared with."""

from __future__ import annotations

import textwrap

import pytest
from sqlalchemy import select

from maestro.definition import load_definition
from maestro.engine import signals
from maestro.errors import DefinitionError
from maestro.store import tables
from tests.engine.harness import Harness

TEMPLATED = """
id: templated
owner: t
params: {ds: {type: string, default: "2024-05-01"}}
steps:
  - id: gate
    type: noop
    wait_for:
      - signal: landed
        match: {ds: {">=": "{{ params.ds }}"}, table: "{{ params.ds[:4] }}"}
"""


def test_a_templated_match_is_rendered_at_registration_and_compared_rendered(
    harness: Harness,
) -> None:
    run_id = harness.start(TEMPLATED, params={"ds": "2024-05-10"})
    with harness.db.read() as conn:
        stored = conn.execute(
            select(tables.signal_waits.c.match).where(tables.signal_waits.c.run_id == run_id)
        ).scalar_one()
    assert stored == {"ds": {">=": "2024-05-10"}, "table": "2024"}
    smaller = signals.publish(harness.engine, "landed", {"ds": "2024-05-09", "table": "2024"})
    assert smaller.steps_released == []
    larger = signals.publish(harness.engine, "landed", {"ds": "2024-05-11", "table": "2024"})
    assert len(larger.steps_released) == 1
    assert harness.drain(run_id).status == "SUCCEEDED"


def test_a_match_template_that_fails_to_render_fails_the_step_naming_the_field(
    harness: Harness,
) -> None:
    run_id = harness.start("""
        id: broken
        owner: t
        steps:
          - id: gate
            type: noop
            wait_for: [{signal: landed, match: {ds: {">=": "{{ params.missing.x }}"}}}]
        """)
    view = harness.drain(run_id)
    assert view.status == "FAILED"
    assert "wait_for[0].match" in (view.steps[0].error or "")


def test_a_match_with_two_operators_is_refused_at_submission_with_its_path() -> None:
    with pytest.raises(DefinitionError) as caught:
        load_definition(
            textwrap.dedent("""
            id: two
            owner: t
            steps:
              - id: gate
                type: noop
                wait_for: [{signal: landed, match: {ds: {">=": "a", "<": "b"}}}]
            """)
        )
    assert "wait_for" in str(caught.value)
    assert "one operator per field" in str(caught.value)
