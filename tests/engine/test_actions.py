"""Run and step actions: stop, kill, pause/resume, restart, retry, skip, stop a step."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from maestro.engine import actions
from maestro.errors import Conflict, NotFound
from maestro.store import tables
from tests.engine.harness import Harness


def _events(h: Harness, run_id: int) -> list[tuple[str, str | None, str | None, str]]:
    e = tables.events
    with h.db.read() as conn:
        rows = conn.execute(
            select(e.c.entity, e.c.to_status, e.c.action, e.c.actor)
            .where(e.c.run_id == run_id)
            .order_by(e.c.id)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


CHAIN = """
id: chain
owner: t
steps:
  - {id: a, type: shell, shell: {command: "echo v=1 >> $MAESTRO_OUTPUT"}}
  - {id: b, type: noop, depends_on: [a]}
"""


def test_stop_ends_the_run_and_every_step_and_records_the_actor(harness: Harness) -> None:
    run_id = harness.start(CHAIN)
    (queued,) = harness.dispatcher.pending
    actions.stop_run(harness.engine, run_id, "alice")
    view = harness.view(run_id)
    assert view.status == "STOPPED"
    assert harness.statuses(run_id) == {"a": "STOPPED", "b": "STOPPED"}
    assert queued.attempt_id in harness.dispatcher.cancelled
    assert ("run", "STOPPED", "stop", "alice") in _events(harness, run_id)
    harness.step_once()  # the message still in flight claims nothing
    assert harness.statuses(run_id)["a"] == "STOPPED"
    with pytest.raises(Conflict, match="STOPPED"):
        actions.stop_run(harness.engine, run_id, "alice")
    with pytest.raises(NotFound):
        actions.stop_run(harness.engine, 999, "alice")


def test_kill_fails_the_run(harness: Harness) -> None:
    run_id = harness.start(CHAIN)
    actions.kill_run(harness.engine, run_id, "bob")
    assert harness.view(run_id).status == "FAILED"


def test_pause_holds_new_steps_and_resume_releases_them(harness: Harness) -> None:
    run_id = harness.start(CHAIN)
    actions.pause_run(harness.engine, run_id, "ops")
    harness.step_once()  # a was already handed out: it finishes
    assert harness.statuses(run_id) == {"a": "SUCCEEDED", "b": "WAITING"}
    assert not harness.dispatcher.pending
    with pytest.raises(Conflict, match="PAUSED"):
        actions.pause_run(harness.engine, run_id, "ops")
    actions.resume_run(harness.engine, run_id, "ops")
    assert harness.drain(run_id).status == "SUCCEEDED"
    with pytest.raises(Conflict, match="SUCCEEDED"):
        actions.resume_run(harness.engine, run_id, "ops")


MID_FAILURE = """
id: mid
owner: t
steps:
  - id: extract
    type: shell
    shell:
      command: echo x >> {marks}.extract; echo rows=7 >> $MAESTRO_OUTPUT
  - id: transform
    type: shell
    depends_on: [extract]
    shell:
      command: >
        echo x >> {marks}.transform;
        test -e {flag} && echo got={{{{ steps.extract.outputs.rows }}}} >> $MAESTRO_OUTPUT
  - {{id: load, type: noop, depends_on: [transform]}}
  - {{id: side, type: shell, shell: {{command: "echo x >> {marks}.side"}}}}
"""


def test_restart_from_failed_reruns_only_the_failure_and_its_downstream(
    harness: Harness, tmp_path: Path
) -> None:
    marks, flag = tmp_path / "m", tmp_path / "flag"
    first = harness.start(MID_FAILURE.format(marks=marks, flag=flag))
    assert harness.drain(first).status == "FAILED"
    flag.touch()
    second = actions.restart_run(harness.engine, first, "carol")
    view = harness.drain(second)
    assert view.status == "SUCCEEDED"
    assert (view.number, view.params) == (2, {})
    steps = {s.step_id: s for s in view.steps}
    assert steps["transform"].outputs == {"got": 7}  # the reused upstream's outputs
    assert steps["extract"].attempt_count == 0 and steps["extract"].outputs == {"rows": 7}
    assert steps["side"].attempt_count == 0
    for name, runs in [("extract", 1), ("side", 1), ("transform", 2)]:
        assert Path(f"{marks}.{name}").read_text().count("x") == runs
    with harness.db.read() as conn:
        row = conn.execute(
            select(tables.runs.c.restarted_from, tables.runs.c.trigger).where(
                tables.runs.c.id == second
            )
        ).one()
    assert tuple(row) == (first, "restart")
    assert ("run", None, "restart", "carol") in _events(harness, first)


def test_restart_from_the_beginning_and_from_a_step(harness: Harness, tmp_path: Path) -> None:
    marks, flag = tmp_path / "m", tmp_path / "flag"
    flag.touch()
    first = harness.start(MID_FAILURE.format(marks=marks, flag=flag))
    assert harness.drain(first).status == "SUCCEEDED"
    with pytest.raises(Conflict, match="no failed step"):
        actions.restart_run(harness.engine, first, "x")
    again = actions.restart_run(harness.engine, first, "x", mode="beginning")
    assert harness.drain(again).status == "SUCCEEDED"
    from_step = actions.restart_run(harness.engine, first, "x", mode="step", step_id="load")
    view = harness.drain(from_step)
    assert {s.step_id: s.attempt_count for s in view.steps} == {
        "extract": 0,
        "transform": 0,
        "load": 1,
        "side": 0,
    }
    assert Path(f"{marks}.extract").read_text().count("x") == 2


def test_restart_from_a_step_its_failed_upstream_would_block_is_refused(harness: Harness) -> None:
    """Reusing a FAILED upstream made the new run UPSTREAM_FAILED the moment it started."""
    run_id = harness.start(
        "id: blocked\nowner: t\nsteps:\n  - {id: a, type: shell, shell: {command: 'exit 1'}}\n"
        "  - {id: b, type: noop, depends_on: [a]}\n"
        "  - {id: c, type: noop, depends_on: [a], trigger_rule: all_done}\n"
    )
    assert harness.drain(run_id).status == "FAILED"
    with pytest.raises(
        Conflict, match=r"reuses its upstreams 'a' \(FAILED\), and its trigger rule"
    ):
        actions.restart_run(harness.engine, run_id, "x", mode="step", step_id="b")
    # a step whose trigger rule runs after a failure restarts; so does the failed step itself
    after = actions.restart_run(harness.engine, run_id, "x", mode="step", step_id="c")
    assert harness.drain(after).status == "FAILED"  # its run keeps a's failure
    assert harness.statuses(after)["c"] == "SUCCEEDED"
    again = actions.restart_run(harness.engine, run_id, "x", mode="step", step_id="a")
    assert harness.drain(again).status == "FAILED"
    assert harness.statuses(again) == {"a": "FAILED", "b": "UPSTREAM_FAILED", "c": "SUCCEEDED"}


def test_restart_from_a_step_its_skipped_upstream_would_skip_is_refused(harness: Harness) -> None:
    run_id = harness.start(
        "id: skipping\nowner: t\nsteps:\n  - {id: s, type: noop, when: 'false'}\n"
        "  - {id: t, type: noop, depends_on: [s]}\n"
    )
    assert harness.drain(run_id).status == "SUCCEEDED"
    with pytest.raises(
        Conflict, match=r"'s' \(SKIPPED\), and its trigger rule \(all_success\) would skip"
    ):
        actions.restart_run(harness.engine, run_id, "x", mode="step", step_id="t")


def test_restart_refuses_an_active_run_and_checks_params(harness: Harness) -> None:
    run_id = harness.start(CHAIN)
    with pytest.raises(Conflict, match="RUNNING"):
        actions.restart_run(harness.engine, run_id, "x", mode="beginning")


def test_restart_from_failed_has_nothing_to_rerun_in_a_run_whose_steps_were_skipped(
    harness: Harness,
) -> None:
    run_id = harness.start(
        "id: skips\nowner: t\nsteps:\n  - {id: a, type: noop}\n"
        "  - {id: b, type: noop, depends_on: [a], when: 'false'}\n"
    )
    assert harness.drain(run_id).status == "SUCCEEDED"
    assert harness.statuses(run_id) == {"a": "SUCCEEDED", "b": "SKIPPED"}
    with pytest.raises(Conflict, match="no failed step"):
        actions.restart_run(harness.engine, run_id, "x", mode="failed")


RETRY = """
id: retry
owner: t
steps:
  - {{id: flaky, type: shell, shell: {{command: "test -e {flag}"}}}}
  - {{id: after, type: noop, depends_on: [flaky]}}
  - {{id: slow, type: sleep, sleep: {{duration: 1h}}}}
"""


def test_retry_a_failed_step_while_the_run_goes_on(harness: Harness, tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    run_id = harness.start(RETRY.format(flag=flag))
    flaky = next(d for d in harness.dispatcher.pending if d.priority == 0)
    harness.dispatcher.pending.remove(flaky)
    slow = harness.dispatcher.pending.pop()  # keeps the run RUNNING; never executed here
    harness.executor.execute(flaky.attempt_id)
    assert harness.statuses(run_id) == {
        "flaky": "FAILED",
        "after": "UPSTREAM_FAILED",
        "slow": "QUEUED",
    }
    flag.touch()
    actions.retry_step(harness.engine, run_id, "flaky", "dave")
    assert harness.statuses(run_id)["after"] == "PENDING"  # reopened
    while harness.step_once():
        pass
    assert harness.statuses(run_id) == {
        "flaky": "SUCCEEDED",
        "after": "SUCCEEDED",
        "slow": "QUEUED",
    }
    assert next(s.attempt_count for s in harness.view(run_id).steps) == 2
    with pytest.raises(Conflict, match="SUCCEEDED"):
        actions.retry_step(harness.engine, run_id, "flaky", "dave")
    actions.stop_step(harness.engine, run_id, "slow", "dave")
    assert slow.attempt_id in harness.dispatcher.cancelled
    view = harness.view(run_id)
    assert view.status == "FAILED"  # a stopped step counts as failed
    assert ("step", "STOPPED", "stop", "dave") in _events(harness, run_id)


def test_skip_a_failed_step_lets_tolerant_downstream_run(harness: Harness) -> None:
    run_id = harness.start(
        """
        id: skip
        owner: t
        steps:
          - {id: bad, type: shell, shell: {command: "exit 3"}}
          - {id: tolerant, type: noop, depends_on: [bad], trigger_rule: none_failed}
          - {id: strict, type: noop, depends_on: [bad]}
          - {id: slow, type: sleep, sleep: {duration: 1h}}
        """
    )
    bad = harness.dispatcher.pending.pop(0)
    harness.dispatcher.pending.clear()  # slow stays QUEUED: the run stays RUNNING
    harness.executor.execute(bad.attempt_id)
    assert harness.statuses(run_id)["tolerant"] == "UPSTREAM_FAILED"
    actions.skip_step(harness.engine, run_id, "bad", "erin")
    while harness.step_once():
        pass
    assert harness.statuses(run_id) == {
        "bad": "SKIPPED",
        "tolerant": "SUCCEEDED",
        "strict": "SKIPPED",
        "slow": "QUEUED",
    }
    actions.stop_step(harness.engine, run_id, "slow", "erin")
    assert harness.view(run_id).status == "FAILED"


def test_skip_a_pending_step(harness: Harness) -> None:
    run_id = harness.start(CHAIN)
    actions.skip_step(harness.engine, run_id, "b", "x")
    with pytest.raises(Conflict, match="QUEUED"):
        actions.skip_step(harness.engine, run_id, "a", "x")
    with pytest.raises(NotFound):
        actions.skip_step(harness.engine, run_id, "nope", "x")
    assert harness.drain(run_id).status == "SUCCEEDED"
    assert harness.statuses(run_id) == {"a": "SUCCEEDED", "b": "SKIPPED"}
