"""Retries, backoff, timeouts, lost workers and duplicate deliveries."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from maestro.engine.attempts import claim
from maestro.store import tables
from tests.engine.harness import Harness


def _attempts(h: Harness, run_id: int) -> list[tuple[str, int, str]]:
    with h.db.read() as conn:
        rows = conn.execute(
            select(tables.step_runs.c.step_id, tables.attempts.c.number, tables.attempts.c.status)
            .join(tables.step_runs, tables.step_runs.c.id == tables.attempts.c.step_run_id)
            .where(tables.attempts.c.run_id == run_id)
            .order_by(tables.attempts.c.id)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


def test_a_flaky_step_succeeds_on_its_second_attempt(harness: Harness, tmp_path: Path) -> None:
    counter = tmp_path / "count"
    run_id = harness.start(
        f"""
        id: flaky
        owner: t
        steps:
          - id: f
            type: shell
            retries: {{limit: 3, delay: 5s}}
            shell:
              command: |
                echo x >> {counter}
                test $(wc -l < {counter}) -ge 2
        """
    )
    view = harness.drain(run_id)
    assert view.status == "SUCCEEDED"
    assert _attempts(harness, run_id) == [("f", 1, "FAILED"), ("f", 2, "SUCCEEDED")]
    assert counter.read_text().count("x") == 2


def test_retries_stop_at_the_limit_with_exponential_backoff(harness: Harness) -> None:
    run_id = harness.start(
        """
        id: retry
        owner: t
        steps:
          - id: f
            type: shell
            retries: {limit: 2, backoff: exponential, delay: 10s, max_delay: 15s}
            shell: {command: "exit 7"}
        """
    )
    harness.step_once()
    delays = []
    for _ in range(2):
        with harness.db.read() as conn:
            row = conn.execute(
                select(tables.step_runs.c.status, tables.step_runs.c.next_attempt_at)
            ).one()
        assert row.status == "RETRYING"
        delays.append((row.next_attempt_at - harness.clock.now()).total_seconds())
        harness.scheduler.tick()
        assert not harness.dispatcher.pending  # the backoff has not elapsed
        harness.clock.advance(delays[-1] + 0.01)
        harness.scheduler.tick()
        assert harness.step_once()
    assert 9.0 <= delays[0] <= 11.0  # 10s ± 10%
    assert 13.5 <= delays[1] <= 15.0  # min(20s, max_delay 15s) ± 10%
    view = harness.view(run_id)
    assert view.status == "FAILED"
    assert view.steps[0].attempt_count == 3
    assert [a[2] for a in _attempts(harness, run_id)] == ["FAILED"] * 3


def test_step_timeout_kills_the_process_and_is_not_retried_by_default(
    harness: Harness, tmp_path: Path
) -> None:
    pidfile = tmp_path / "pid"
    run_id = harness.start(
        f"""
        id: slow
        owner: t
        steps:
          - id: s
            type: shell
            timeout: 1s
            retries: {{limit: 2, delay: 1s}}
            shell: {{command: "echo $$ > {pidfile}; exec sleep 60"}}
        """
    )
    view = harness.drain(run_id)
    assert view.status == "FAILED"
    step = view.steps[0]
    assert step.status == "TIMED_OUT"
    assert step.attempt_count == 1
    assert step.error == "timed out after 1s"
    pid = int(pidfile.read_text())
    assert (
        not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    )


def test_timeouts_are_retried_when_on_timeout_is_set(harness: Harness) -> None:
    run_id = harness.start(
        """
        id: slow2
        owner: t
        steps:
          - id: s
            type: sleep
            timeout: 0.2s
            retries: {limit: 1, delay: 1s, on_timeout: true}
            sleep: {duration: 10s}
        """
    )
    view = harness.drain(run_id)
    assert [a[2] for a in _attempts(harness, run_id)] == ["TIMED_OUT", "TIMED_OUT"]
    assert view.steps[0].status == "TIMED_OUT"


def test_a_lost_attempt_is_retried_without_counting_against_the_limit(harness: Harness) -> None:
    run_id = harness.start(
        """
        id: lost
        owner: t
        steps:
          - {id: s, type: noop}
        """
    )
    # A worker claims the attempt and dies before reporting: no heartbeat ever again.
    for _ in range(3):
        (dispatch,) = harness.dispatcher.pending
        harness.dispatcher.pending.clear()
        assert claim(harness.engine, dispatch.attempt_id, "doomed-worker") is not None
        harness.clock.advance(harness.settings.heartbeat_timeout + 1)
        harness.scheduler.tick()  # → LOST, step RETRYING (due now)
        harness.scheduler.tick()  # → new attempt queued
    view = harness.drain(run_id)
    assert view.status == "SUCCEEDED"
    assert [a[2] for a in _attempts(harness, run_id)] == ["LOST", "LOST", "LOST", "SUCCEEDED"]


def test_the_fourth_lost_attempt_fails_the_step(harness: Harness) -> None:
    run_id = harness.start("id: lost4\nowner: t\nsteps: [{id: s, type: noop}]\n")
    for _ in range(4):
        harness.scheduler.tick()
        (dispatch,) = harness.dispatcher.pending
        harness.dispatcher.pending.clear()
        claim(harness.engine, dispatch.attempt_id, "doomed-worker")
        harness.clock.advance(harness.settings.heartbeat_timeout + 1)
        harness.scheduler.tick()
    view = harness.view(run_id)
    assert view.status == "FAILED"
    assert view.steps[0].error == "heartbeat lapsed: worker lost"


def test_run_timeout_ends_the_run_and_stops_its_steps(harness: Harness) -> None:
    run_id = harness.start(
        """
        id: runtimeout
        owner: t
        timeout: 1m
        steps:
          - {id: s, type: shell, shell: {command: "exit 1"}, retries: {limit: 5, delay: 1h}}
          - {id: t, type: noop, depends_on: [s]}
        """
    )
    harness.step_once()
    harness.clock.advance(61)
    harness.scheduler.tick()
    view = harness.view(run_id)
    assert view.status == "TIMED_OUT"
    assert harness.statuses(run_id) == {"s": "STOPPED", "t": "STOPPED"}


def test_a_duplicate_delivery_executes_nothing_twice(harness: Harness, tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    run_id = harness.start(
        f"""
        id: dup
        owner: t
        steps:
          - {{id: s, type: shell, shell: {{command: "echo ran >> {marks}"}}}}
        """
    )
    (dispatch,) = harness.dispatcher.pending
    harness.dispatcher.pending.append(dispatch)  # the broker delivered it twice
    harness.drain(run_id)
    assert marks.read_text() == "ran\n"


def test_an_unclaimed_attempt_is_dispatched_again(harness: Harness) -> None:
    run_id = harness.start("id: resend\nowner: t\nsteps: [{id: s, type: noop}]\n")
    harness.dispatcher.pending.clear()  # the message was lost in transit
    harness.scheduler.tick()
    assert not harness.dispatcher.pending  # too early to resend
    harness.clock.advance(harness.settings.redispatch_after + 1)
    harness.scheduler.tick()
    assert len(harness.dispatcher.pending) == 1
    assert harness.drain(run_id).status == "SUCCEEDED"


def test_next_due_follows_the_earliest_retry(harness: Harness) -> None:
    harness.start(
        """
        id: due
        owner: t
        steps:
          - {id: s, type: shell, shell: {command: "exit 1"}, retries: {limit: 1, delay: 0.3s}}
        """
    )
    harness.step_once()
    assert harness.scheduler.tick() <= 0.35
    harness.clock.advance(timedelta(seconds=0.5).total_seconds())
    assert harness.scheduler.tick() == harness.settings.poll_interval or harness.dispatcher.pending
