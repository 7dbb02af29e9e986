"""A step's process gets the W3C TRACEPARENT naming its attempt's span, so that spans made by
the step's own code join the run's trace (``maestro.engine.tracing.step_environment``)."""

from __future__ import annotations

import pytest

from tests.engine.harness import Harness
from tests.support.otlp import Span
from tests.traces.conftest import Traced

WORKFLOW = """
id: ctx
owner: t
steps:
  - id: top
    type: shell
    shell: {command: 'echo "traceparent=$TRACEPARENT" >> "$MAESTRO_OUTPUT"'}
  - id: each
    type: foreach
    depends_on: [top]
    foreach:
      items: "[1, 2]"
      steps:
        - id: body
          type: shell
          shell: {command: 'echo "traceparent=$TRACEPARENT" >> "$MAESTRO_OUTPUT"'}
"""


def _parent_of(span: Span) -> str:
    return f"00-{span.trace_id:032x}-{span.span_id:016x}-01"


@pytest.mark.parametrize("traced", ["memory"], indirect=True)
def test_a_shell_step_sees_traceparent_naming_its_attempt_span(traced: Traced) -> None:
    h = traced.harness
    run_id = h.start(WORKFLOW)
    view = h.drain(run_id)
    assert view.status == "SUCCEEDED"
    tree = traced.tree()
    tree.check_well_formed()
    (run,) = tree.roots()
    top = tree.one(tree.one(run, "step top"), "attempt top")
    seen = {s.step_id: s.outputs for s in view.steps}
    assert seen["top"] == {"traceparent": _parent_of(top)}
    # a foreach iteration's step: the trace is still the top-level run's
    bodies = {
        tree.one(tree.one(i, "step body"), "attempt body").attributes["maestro.run.id"]: (
            tree.one(tree.one(i, "step body"), "attempt body")
        )
        for i in tree.kids(tree.one(run, "step each"))
    }
    assert len(bodies) == 2
    for child_run_id, attempt in bodies.items():
        (body,) = h.view(child_run_id).steps
        assert body.outputs == {"traceparent": _parent_of(attempt)}
        assert attempt.trace_id == run.trace_id


def test_without_traces_a_step_gets_no_traceparent(harness: Harness) -> None:
    assert harness.engine.spans is None  # no OTEL_* variable in the tests' environment
    run_id = harness.start(WORKFLOW)
    view = harness.drain(run_id)
    assert {s.step_id: s.outputs for s in view.steps}["top"] == {"traceparent": ""}
