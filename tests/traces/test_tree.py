"""The trace of a run, as an OpenTelemetry backend receives it: the SDK's in-memory exporter
and a real OTLP/HTTP receiver on loopback (``traced``), on SQLite and PostgreSQL (``db_url``).
"""

from __future__ import annotations

from datetime import timedelta

from maestro.store.records import load_run
from maestro.traces.spans import SpanKind, span_id, trace_id
from tests.support.otlp import Span, Tree
from tests.traces.conftest import Traced, ns

DIAMOND = """
id: diamond
owner: t
steps:
  - {id: a, type: noop}
  - {id: b, type: shell, depends_on: [a], shell: {command: "echo b"}}
  - {id: c, type: noop, depends_on: [a]}
  - {id: d, type: noop, depends_on: [b, c]}
"""


def _run_trace(traced: Traced, run_id: int) -> int:
    with traced.harness.db.read() as conn:
        run = load_run(conn, run_id)
    return trace_id(run.id, run.created_at)


def _check_attempt(tree: Tree, attempt: Span, number: int) -> Span:
    assert attempt.attributes["maestro.attempt"] == number
    queued = tree.one(attempt, "queued")
    assert queued.attributes == {"maestro.wait": "attempt"}
    assert queued.start == attempt.start  # the attempt's life starts QUEUED…
    assert queued.end < attempt.end  # …and a worker claimed it before it ended
    assert tree.kids(attempt) == [queued]
    return queued


def test_a_diamond_run_is_one_trace_a_span_per_step_and_attempt(traced: Traced) -> None:
    run_id = traced.harness.start(DIAMOND)
    assert traced.harness.drain(run_id).status == "SUCCEEDED"
    tree = traced.tree()
    tree.check_well_formed()
    assert tree.render().splitlines()[0] == "run diamond"
    assert len(tree.spans) == 1 + 4 * 3  # the run; each step, its attempt, its queue wait

    (run,) = tree.roots()
    assert run.trace_id == _run_trace(traced, run_id)
    assert run.span_id == span_id(run.trace_id, SpanKind.run, run_id)
    assert run.status == "OK"
    assert run.resource["service.name"] == "maestro"
    assert {k: v for k, v in run.attributes.items()} == {
        "maestro.workflow.id": "diamond",
        "maestro.workflow.version": 1,
        "maestro.run.id": run_id,
        "maestro.run.number": 1,
        "maestro.run.trigger": "manual",
        "maestro.status": "SUCCEEDED",
        "cicd.pipeline.name": "diamond",
        "cicd.pipeline.run.id": str(run_id),
        "cicd.pipeline.result": "success",
    }
    steps = {s.attributes["maestro.step.id"]: s for s in tree.kids(run)}
    assert sorted(steps) == ["a", "b", "c", "d"]
    for step_id, step in steps.items():
        assert step.name == f"step {step_id}"
        assert step.status == "OK"
        assert step.attributes["maestro.status"] == "SUCCEEDED"
        assert step.attributes["maestro.step.type"] == ("shell" if step_id == "b" else "noop")
        assert step.attributes["maestro.run.id"] == run_id
        assert step.attributes["maestro.step.attempts"] == 1
        assert step.attributes["cicd.pipeline.task.name"] == step_id
        (attempt,) = tree.kids(step)
        assert attempt.name == f"attempt {step_id}"
        assert attempt.attributes["maestro.worker"] == "test-worker"
        assert attempt.attributes["maestro.queue"] == "default"
        assert attempt.status == "OK"
        _check_attempt(tree, attempt, 1)
    assert steps["b"].attributes["maestro.step.type"] == "shell"
    assert tree.one(steps["b"], "attempt b").attributes["process.exit.code"] == 0
    # the edges of the DAG, in time: a step is ready when its last upstream has ended
    assert steps["a"].end <= steps["b"].start and steps["a"].end <= steps["c"].start
    assert steps["d"].start >= max(steps["b"].end, steps["c"].end)
    assert steps["d"].end == run.end


def test_a_retried_step_has_an_attempt_span_per_try(traced: Traced) -> None:
    run_id = traced.harness.start(
        """
        id: flaky
        owner: t
        steps:
          - id: f
            type: shell
            retries: {limit: 2, delay: 5s}
            shell: {command: 'echo "try $MAESTRO_ATTEMPT" >&2; test "$MAESTRO_ATTEMPT" -ge 2'}
        """
    )
    assert traced.harness.drain(run_id).status == "SUCCEEDED"
    tree = traced.tree()
    tree.check_well_formed()
    (run,) = tree.roots()
    step = tree.one(run, "step f")
    assert step.status == "OK"
    assert step.attributes["maestro.step.attempts"] == 2
    first, second = tree.kids(step, "attempt f")
    _check_attempt(tree, first, 1)
    _check_attempt(tree, second, 2)
    assert first.status == "ERROR"
    assert first.attributes["maestro.status"] == "FAILED"
    assert first.attributes["error.type"] == "FAILED"
    assert first.attributes["process.exit.code"] == 1
    assert first.attributes["cicd.pipeline.task.run.result"] == "failure"
    assert first.description and "exit" in first.description
    assert second.status == "OK" and "error.type" not in second.attributes
    assert second.start - first.end >= ns(timedelta(seconds=5))  # the retry's backoff
    assert step.start == first.start and step.end >= second.end


def test_a_failed_run_and_its_skipped_downstream(traced: Traced) -> None:
    run_id = traced.harness.start(
        """
        id: broken
        owner: t
        steps:
          - {id: bad, type: shell, shell: {command: "exit 3"}}
          - {id: after, type: noop, depends_on: [bad]}
        """
    )
    assert traced.harness.drain(run_id).status == "FAILED"
    tree = traced.tree()
    tree.check_well_formed()
    (run,) = tree.roots()
    assert run.status == "ERROR" and run.attributes["error.type"] == "FAILED"
    assert run.attributes["cicd.pipeline.result"] == "failure"
    bad, after = tree.one(run, "step bad"), tree.one(run, "step after")
    assert bad.status == "ERROR" and bad.attributes["maestro.error"] == bad.description
    # never ran: an instant span at the moment it was decided, without attempts
    assert after.attributes["maestro.status"] == "UPSTREAM_FAILED"
    assert after.status == "UNSET" and after.start == after.end and tree.kids(after) == []
    assert after.start >= bad.end


def test_foreach_iterations_nest_under_their_step(traced: Traced) -> None:
    run_id = traced.harness.start(
        """
        id: loop
        owner: t
        steps:
          - id: each
            type: foreach
            foreach:
              items: "[10, 20, 30]"
              concurrency: 2
              steps:
                - {id: s, type: noop}
                - {id: t, type: noop, depends_on: [s]}
          - {id: after, type: noop, depends_on: [each]}
        """
    )
    assert traced.harness.drain(run_id).status == "SUCCEEDED"
    tree = traced.tree()
    tree.check_well_formed()  # one trace: the iterations are in the run's
    (run,) = tree.roots()
    each = tree.one(run, "step each")
    assert each.attributes["maestro.step.type"] == "foreach"
    assert each.attributes["maestro.step.attempts"] == 0
    iterations = tree.kids(each)
    assert [i.name for i in iterations] == ["iteration each"] * 3
    assert sorted(i.attributes["maestro.foreach.iteration"] for i in iterations) == [0, 1, 2]
    for iteration in iterations:
        assert iteration.status == "OK"
        assert "maestro.run.number" not in iteration.attributes
        s, t = tree.one(iteration, "step s"), tree.one(iteration, "step t")
        for step in (s, t):
            assert step.attributes["maestro.run.id"] == iteration.attributes["maestro.run.id"]
            assert (
                step.attributes["maestro.foreach.iteration"]
                == (iteration.attributes["maestro.foreach.iteration"])
            )
            _check_attempt(tree, tree.one(step, f"attempt {step.name[5:]}"), 1)
        assert s.end <= t.start
    # concurrency 2: the third iteration waited QUEUED until one of the first two ended
    waited = [i for i in iterations if tree.kids(i, "queued")]
    assert len(waited) == 1
    queued = tree.one(waited[0], "queued")
    assert queued.attributes == {"maestro.wait": "run"}
    assert queued.end >= min(i.end for i in iterations if i is not waited[0])
    after = tree.one(run, "step after")
    assert after.start >= each.end


def test_a_subworkflow_run_nests_under_its_step(traced: Traced) -> None:
    traced.harness.submit(
        """
        id: child
        owner: t
        steps: [{id: calc, type: noop}]
        """
    )
    run_id = traced.harness.start(
        """
        id: parent
        owner: t
        steps:
          - {id: sub, type: subworkflow, subworkflow: {workflow: child}}
        """
    )
    assert traced.harness.drain(run_id).status == "SUCCEEDED"
    tree = traced.tree()
    tree.check_well_formed()
    (run,) = tree.roots()
    sub = tree.one(run, "step sub")
    assert sub.attributes["maestro.step.type"] == "subworkflow"
    child = tree.one(sub, "run child")
    assert child.attributes["maestro.workflow.id"] == "child"
    assert child.attributes["maestro.run.trigger"] == "subworkflow"
    assert child.attributes["maestro.run.id"] != run_id
    calc = tree.one(child, "step calc")
    assert calc.attributes["maestro.workflow.id"] == "child"
    _check_attempt(tree, tree.one(calc, "attempt calc"), 1)
