"""Signals: wait_for holds a step until matching signals arrive, emit publishes them,
dedupe keys make deliveries idempotent, timeouts end the wait, a crash loses nothing."""

from __future__ import annotations

from sqlalchemy import select

from maestro.engine import signal_waits, signals
from maestro.store import tables
from tests.engine.harness import Harness

WAITER = """
id: waiter
owner: t
steps:
  - id: gate
    type: noop
    wait_for:
      - {signal: plays_landed, match: {table: plays}}
      - {signal: ratings_landed}
  - {id: after, type: noop, depends_on: [gate]}
"""


def test_a_step_waits_until_every_matching_signal_has_arrived(harness: Harness) -> None:
    run_id = harness.start(WAITER)
    assert harness.statuses(run_id)["gate"] == "WAITING"
    other = signals.publish(harness.engine, "plays_landed", {"table": "users"})
    assert other.steps_released == [] and not other.duplicate
    first = signals.publish(harness.engine, "plays_landed", {"table": "plays", "ds": "x"})
    assert first.steps_released == []  # one wait of two is satisfied
    assert harness.statuses(run_id)["gate"] == "WAITING"
    second = signals.publish(harness.engine, "ratings_landed", {})
    assert len(second.steps_released) == 1
    assert harness.drain(run_id).status == "SUCCEEDED"


def test_signals_from_before_the_wait_count_within_the_runs_lifetime(harness: Harness) -> None:
    signals.publish(harness.engine, "ratings_landed", {})  # before the run: does not count
    harness.clock.advance(1)
    run_id = harness.start(WAITER.replace("match: {table: plays}", "match: {}"))
    harness.clock.advance(1)
    signals.publish(harness.engine, "plays_landed", {})
    assert harness.statuses(run_id)["gate"] == "WAITING"
    signals.publish(harness.engine, "ratings_landed", {})
    assert harness.drain(run_id).status == "SUCCEEDED"
    harness.clock.advance(1)
    later = harness.start(WAITER.replace("match: {table: plays}", "match: {}"))
    assert harness.statuses(later)["gate"] == "WAITING"  # earlier signals predate this run


def test_a_repeated_dedupe_key_releases_nothing_more(harness: Harness) -> None:
    run_id = harness.start("""
        id: once
        owner: t
        steps:
          - {id: a, type: noop, wait_for: [{signal: go}]}
        """)
    first = signals.publish(harness.engine, "go", {}, dedupe_key="go-1")
    again = signals.publish(harness.engine, "go", {}, dedupe_key="go-1")
    assert len(first.steps_released) == 1
    assert again.duplicate and again.signal_id == first.signal_id and not again.steps_released
    with harness.db.read() as conn:
        assert len(conn.execute(select(tables.signals.c.id)).all()) == 1
    assert harness.drain(run_id).status == "SUCCEEDED"


def test_a_wait_times_out(harness: Harness) -> None:
    run_id = harness.start("""
        id: late
        owner: t
        steps:
          - {id: a, type: noop, wait_for: [{signal: never, timeout: 1m}]}
        """)
    harness.scheduler.tick()
    assert harness.statuses(run_id)["a"] == "WAITING"
    harness.clock.advance(61)
    harness.scheduler.tick()
    view = harness.view(run_id)
    assert view.steps[0].status == "TIMED_OUT"
    assert view.steps[0].error == "signal 'never' did not arrive before the wait's timeout"
    assert view.status == "FAILED"


def test_emit_publishes_on_success_and_releases_another_runs_step(harness: Harness) -> None:
    waiting = harness.start("""
        id: consumer
        owner: t
        steps:
          - {id: use, type: noop, wait_for: [{signal: published, match: {ds: "2024-01-01"}}]}
        """)
    producer = harness.start("""
        id: producer
        owner: t
        params: {ds: {type: date, default: "2024-01-01"}}
        steps:
          - id: publish
            type: noop
            emit:
              - signal: published
                payload: {ds: "{{ params.ds }}", by: "{{ run.workflow_id }}"}
        """)
    assert harness.drain(producer).status == "SUCCEEDED"
    with harness.db.read() as conn:
        row = conn.execute(select(tables.signals.c.name, tables.signals.c.payload)).one()
    assert tuple(row) == ("published", {"ds": "2024-01-01", "by": "producer"})
    assert harness.drain(waiting).status == "SUCCEEDED"


def test_an_emitted_payload_a_signal_could_not_keep_is_skipped_and_the_run_goes_on(
    harness: Harness,
) -> None:
    """A payload with Infinity (or NaN, too deep, too wide, a NUL) is refused as a client's is; the
    step's success stands and the skip is in the run's history (it left the run RUNNING)."""
    run_id = harness.start("""
        id: nan-emitter
        owner: t
        steps:
          - id: publish
            type: noop
            emit: [{signal: measured, payload: {v: "{{ 1e308 * 10 }}"}}]
          - {id: after, type: noop, depends_on: [publish]}
        """)
    assert harness.drain(run_id).status == "SUCCEEDED"
    with harness.db.read() as conn:
        assert conn.execute(select(tables.signals.c.id)).all() == []
        messages = (
            conn.execute(select(tables.events.c.message).where(tables.events.c.action == "emit"))
            .scalars()
            .all()
        )
    assert messages == ["signal 'measured' not emitted: payload.v: numbers must be finite, got inf"]


def test_a_signal_recorded_by_a_process_that_died_is_applied_by_the_scheduler(
    harness: Harness,
) -> None:
    run_id = harness.start("""
        id: crash
        owner: t
        steps:
          - {id: a, type: noop, wait_for: [{signal: go}]}
        """)
    with harness.engine.unit() as u:
        signal_waits.record(u, "go", {}, None)
        u.signals.clear()  # the process dies right after the commit
    assert harness.statuses(run_id)["a"] == "WAITING"
    harness.scheduler.tick()
    assert harness.drain(run_id).status == "SUCCEEDED"


def test_a_signal_triggered_run_sees_the_payload_as_signal(harness: Harness) -> None:
    harness.submit("""
        id: on_landing
        owner: t
        triggers: [{signal: landed, match: {table: plays}, params: {ds: "{{ signal.ds }}"}}]
        params: {ds: {type: date}}
        steps:
          - id: show
            type: shell
            shell: {command: "echo table={{ signal.table }} >> $MAESTRO_OUTPUT"}
        """)
    published = signals.publish(harness.engine, "landed", {"table": "plays", "ds": "2024-05-01"})
    (run_id,) = published.runs_started
    harness.scheduler.tick()  # admission
    view = harness.drain(run_id)
    assert view.status == "SUCCEEDED"
    assert view.params == {"ds": "2024-05-01"}
    assert view.steps[0].outputs == {"table": "plays"}


def test_a_wait_with_an_operator_takes_only_a_signal_that_compares_right(
    harness: Harness,
) -> None:
    run_id = harness.start("""
        id: fresh
        owner: t
        steps:
          - id: gate
            type: noop
            wait_for: [{signal: landed, match: {ds: {">=": "2024-05-01"}, rows: {">": 0}}}]
        """)
    assert (
        signals.publish(harness.engine, "landed", {"ds": "2024-04-30", "rows": 5}).steps_released
        == []
    )
    assert (
        signals.publish(harness.engine, "landed", {"ds": "2024-05-02", "rows": 0}).steps_released
        == []
    )
    released = signals.publish(harness.engine, "landed", {"ds": "2024-05-02", "rows": 7})
    assert len(released.steps_released) == 1
    assert harness.drain(run_id).status == "SUCCEEDED"
