"""Params, slots (max_active_steps), priorities, versions, events and the hot path's cost."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, func, select

from maestro.engine.runs import create_run
from maestro.engine.start import start_run
from maestro.errors import ParamError
from maestro.store import direct, tables
from tests.engine.harness import Harness

PARAMS = """
id: params
owner: t
params:
  ds: {type: date, default: "{{ run.logical_date | ds }}"}
  limit: {type: int, default: 10}
  tables: {type: list, default: [a, b]}
  flag: {type: bool, default: false}
steps:
  - id: show
    type: shell
    shell:
      command: |
        cat > "$MAESTRO_OUTPUT" <<'JSON'
        {"ds": "{{ params.ds }}", "n": {{ params.limit + 1 }}, "t": {{ params.tables | tojson }}}
        JSON
"""


def test_params_merge_defaults_and_given_values_with_coercion(harness: Harness) -> None:
    run_id = harness.start(
        PARAMS,
        params={"limit": "41", "flag": "yes"},
        logical_date=datetime(2024, 3, 1, 3, 0, tzinfo=UTC),
    )
    view = harness.drain(run_id)
    assert view.params == {"ds": "2024-03-01", "limit": 41, "tables": ["a", "b"], "flag": True}
    assert view.steps[0].outputs == {"ds": "2024-03-01", "n": 42, "t": ["a", "b"]}


def test_unknown_and_ill_typed_params_are_refused_and_nothing_is_written(
    harness: Harness,
) -> None:
    workflow_id = harness.submit(PARAMS)
    with pytest.raises(ParamError) as info, harness.engine.unit() as u:
        create_run(u, harness.engine.versions, workflow_id, params={"limt": "1", "limit": "many"})
    message = str(info.value)
    assert "limt" in message and "did you mean 'limit'" in message
    assert "limit" in message
    with harness.db.read() as conn:
        assert conn.execute(select(tables.runs.c.id)).first() is None


def test_max_active_steps_bounds_concurrency_and_priority_orders_the_wait(
    harness: Harness,
) -> None:
    harness.executor.follow = None  # the order the steps are queued in, one dispatch each
    run_id = harness.start(
        """
        id: slots
        owner: t
        max_active_steps: 2
        steps:
          - {id: s1, type: noop}
          - {id: s2, type: noop}
          - {id: low, type: noop, priority: -5}
          - {id: high, type: noop, priority: 9}
          - {id: s5, type: noop}
        """
    )
    assert len(harness.dispatcher.pending) == 2
    statuses = harness.statuses(run_id)
    # the two free slots go to the highest priority first, then to definition order
    assert sorted(s for s, v in statuses.items() if v == "QUEUED") == ["high", "s1"]
    assert all(statuses[s] == "WAITING" for s in ("low", "s2", "s5"))
    order = []
    while harness.dispatcher.pending:
        d = harness.dispatcher.pending.pop(0)
        with harness.db.read() as conn:
            active = conn.execute(select(tables.runs.c.active_steps)).scalar_one()
        assert active <= 2
        order.append(d.attempt_id)
        harness.executor.execute(d.attempt_id)
    with harness.db.read() as conn:
        by_attempt = dict(
            conn.execute(
                select(tables.attempts.c.id, tables.step_runs.c.step_id).join(
                    tables.step_runs, tables.step_runs.c.id == tables.attempts.c.step_run_id
                )
            ).all()
        )
    assert [by_attempt[a] for a in order] == ["high", "s1", "s2", "s5", "low"]
    assert harness.view(run_id).status == "SUCCEEDED"


def test_identical_resubmission_keeps_the_version_and_runs_are_numbered(
    harness: Harness,
) -> None:
    text = "id: v\nowner: t\nsteps: [{id: a, type: noop}]\n"
    r1 = harness.start(text)
    r2 = harness.start(text)
    r3 = harness.start(text.replace("noop}", "noop, priority: 1}"))
    views = [harness.view(r) for r in (r1, r2, r3)]
    assert [(v.number, v.version) for v in views] == [(1, 1), (2, 1), (3, 2)]


def test_every_status_change_is_an_event(harness: Harness) -> None:
    run_id = harness.start("id: ev\nowner: t\nsteps: [{id: a, type: noop}]\n")
    harness.drain(run_id)
    with harness.db.read() as conn:
        rows = conn.execute(
            select(tables.events.c.entity, tables.events.c.from_status, tables.events.c.to_status)
            .where(tables.events.c.run_id == run_id)
            .order_by(tables.events.c.id)
        ).all()
    assert [tuple(r) for r in rows] == [
        ("run", None, "QUEUED"),
        ("run", "QUEUED", "RUNNING"),
        ("step", None, "PENDING"),  # every row's first status is an event too
        ("attempt", None, "QUEUED"),
        ("step", "PENDING", "QUEUED"),
        ("attempt", "QUEUED", "RUNNING"),
        ("step", "QUEUED", "RUNNING"),
        ("attempt", "RUNNING", "SUCCEEDED"),
        ("step", "RUNNING", "SUCCEEDED"),
        ("run", "RUNNING", "SUCCEEDED"),
    ]


def _cost_of_first_step(harness: Harness, steps_yaml: str, name: str) -> tuple[int, int]:
    """(statements, transactions) of the first step's claim and report, in this thread."""
    harness.executor.follow = None  # a claim and a report, each on its own
    run_id = harness.start(f"id: {name}\nowner: t\nmax_active_steps: 1000\nsteps:\n{steps_yaml}\n")
    first = harness.dispatcher.pending.pop(0)
    with statements_per_transaction(harness) as per_transaction:
        harness.executor.execute(first.attempt_id)
    harness.drain(run_id)
    assert harness.view(run_id).status == "SUCCEEDED"
    return sum(per_transaction), len(per_transaction)


@contextmanager
def statements_per_transaction(harness: Harness) -> Iterator[list[int]]:
    """The statements of each transaction committed in this thread meanwhile (not the
    heartbeat thread's), in order."""
    per_transaction: list[int] = []
    current = 0
    me = threading.get_ident()

    def count_statement(*_args: object) -> None:
        nonlocal current
        if threading.get_ident() == me:
            current += 1

    def count_commit(*_args: object) -> None:
        nonlocal current
        if threading.get_ident() == me:
            per_transaction.append(current)
            current = 0

    event.listen(harness.db.engine, "before_cursor_execute", count_statement)
    event.listen(harness.db.engine, "commit", count_commit)
    try:
        yield per_transaction
    finally:
        event.remove(harness.db.engine, "before_cursor_execute", count_statement)
        event.remove(harness.db.engine, "commit", count_commit)


def _statements_to_finish_one_step(harness: Harness, width: int) -> int:
    steps = "\n".join(f"  - {{id: s{i}, type: noop}}" for i in range(width))
    return _cost_of_first_step(harness, steps, f"w{width}")[0]


def test_finishing_a_step_costs_the_same_in_a_small_and_a_large_run(harness: Harness) -> None:
    small = _statements_to_finish_one_step(harness, 5)
    large = _statements_to_finish_one_step(harness, 500)
    assert small == large


def _chain(length: int) -> str:
    """The steps (YAML lines) of a chain of ``length`` no-op steps."""
    return "\n".join(
        f"  - {{id: s{i}, type: noop" + (f", depends_on: [s{i - 1}]}}" if i else "}")
        for i in range(length)
    )


#: a handoff — claim the upstream attempt, report it SUCCEEDED, queue the successor — on
#: PostgreSQL: the claim is one statement, the report three (the attempt and step ended with
#: their events and the run's counters read; the successor's upstream counters; its attempt
#: queued with its events and the run's counters written). SQLite has no data-modifying
#: CTEs: a statement per table touched, and a BEGIN IMMEDIATE per transaction.
HANDOFF_STATEMENTS = {"postgresql": 4, "sqlite": 14}


@pytest.mark.parametrize("length", [5, 500])
def test_a_handoff_costs_the_same_few_statements_in_two_transactions(
    harness: Harness, length: int
) -> None:
    statements, transactions = _cost_of_first_step(harness, _chain(length), f"chain{length}")
    assert transactions == 2
    assert statements == HANDOFF_STATEMENTS[harness.db.engine.dialect.name]


#: a followed handoff — a worker reports a step and, in the same transaction, claims the
#: successor its report made ready (``maestro.dispatch.Follow``): the report's statements and
#: the claim's in one transaction instead of two — on SQLite less a BEGIN, the events of both
#: written in one statement at the end, and the successor's rows not read again (the unit
#: queued it: ``Unit.queued_here``)
FOLLOWED_HANDOFF_STATEMENTS = {"postgresql": 4, "sqlite": 11}


@pytest.mark.parametrize("length", [5, 500])
def test_a_followed_handoff_is_one_transaction_of_the_same_few_statements(
    harness: Harness, length: int
) -> None:
    run_id = harness.start(f"id: followed{length}\nowner: t\nsteps:\n{_chain(length)}\n")
    first = harness.dispatcher.pending.pop(0)
    with statements_per_transaction(harness) as per_transaction:
        harness.executor.execute(first.attempt_id)  # the whole chain, on this thread
    assert harness.view(run_id).status == "SUCCEEDED"
    assert harness.dispatcher.pending == []  # no successor was sent: each was followed
    assert len(harness.dispatcher.followed) == length - 1
    # the first claim; a report with the next claim per handoff; the last report
    assert len(per_transaction) == length + 1
    handoffs = per_transaction[1:-1]
    assert set(handoffs) == {FOLLOWED_HANDOFF_STATEMENTS[harness.db.engine.dialect.name]}


#: a foreach iteration, as a worker runs one: its body's report ends the iteration's run and
#: counts it in the foreach step, which starts the next iteration (its run RUNNING with its
#: step row, the step queued with the unit's events); the worker claims that step in the
#: same transaction (``maestro.dispatch.Follow``). On PostgreSQL: the report 1, the
#: iteration's counters with its end 1, the foreach step's counts 2, the next iteration read,
#: started and queued 3, the claim 1. SQLite: a statement per table touched, events at the end.
ITERATION_STATEMENTS = {"postgresql": 8, "sqlite": 16}


def test_a_foreach_iteration_is_one_transaction_of_the_same_few_statements(
    harness: Harness,
) -> None:
    run_id = harness.start(
        "id: iterations\nowner: t\nsteps:\n  - id: each\n    type: foreach\n"
        "    foreach:\n      items: 'range(12) | list'\n      concurrency: 3\n"
        "      steps: [{id: body, type: noop}]\n"
    )
    with statements_per_transaction(harness) as per_transaction:
        assert harness.drain(run_id).status == "SUCCEEDED"
    # the 9 reports that start an iteration (12 less the 3 started with the step); the
    # first also reads the foreach's run, once per engine
    expected = ITERATION_STATEMENTS[harness.db.engine.dialect.name]
    starting = per_transaction[1:10]
    assert starting == [expected + 1] + [expected] * 8, per_transaction


#: a run started by hand (``start_run_now``: the REST API, the CLI, the web view), one root
#: step, on PostgreSQL: the workflow's run counter (which locks its row and returns what
#: admission needs), the run's INSERT, the strategy's lane (active and queued runs, one
#: statement), the run RUNNING with its step rows (``maestro.store.run_start``), the root
#: step queued with the unit's events (``handoff.queue_attempts``). No statement reads back
#: the run or the workflow row; the backfill lanes are the scheduler's. SQLite: no
#: data-modifying CTEs, and a BEGIN IMMEDIATE.
RUN_START_STATEMENTS = {"postgresql": 5, "sqlite": 10}


def test_a_run_started_by_hand_costs_a_few_statements_in_one_transaction(
    harness: Harness,
) -> None:
    from maestro.engine.actions import start_run_now

    harness.submit("id: byhand\nowner: t\nsteps: [{id: a, type: noop}]\n")
    harness.drain(start_run_now(harness.engine, "byhand", "alice").run_id)  # warm the caches
    with statements_per_transaction(harness) as per_transaction:
        run_id = start_run_now(harness.engine, "byhand", "alice").run_id
    assert per_transaction == [RUN_START_STATEMENTS[harness.db.engine.dialect.name]]
    assert [d.attempt_id for d in harness.dispatcher.pending]  # its step went to a worker
    assert harness.drain(run_id).status == "SUCCEEDED"


def test_a_run_started_by_hand_records_its_events_in_the_order_they_happened(
    harness: Harness,
) -> None:
    """On PostgreSQL the unit's events and those of its queued step are one INSERT: the
    unit's go first, so the history reads as it happened, as on SQLite."""
    from maestro.engine.actions import start_run_now

    harness.submit("id: ordered\nowner: t\nsteps: [{id: a, type: noop}, {id: b, type: noop}]\n")
    run_id = start_run_now(harness.engine, "ordered", "alice").run_id
    e = tables.events
    with harness.db.read() as conn:
        rows = conn.execute(
            select(
                e.c.entity,
                e.c.from_status,
                e.c.to_status,
                e.c.step_run_id,
                e.c.attempt_id,
                e.c.actor,
            )
            .where(e.c.run_id == run_id)
            .order_by(e.c.id)
        ).all()
    history = [(r.entity, r.from_status, r.to_status) for r in rows]
    assert history == [
        ("run", None, "QUEUED"),
        ("run", "QUEUED", "RUNNING"),
        ("step", None, "PENDING"),
        ("step", None, "PENDING"),
        ("attempt", None, "QUEUED"),
        ("attempt", None, "QUEUED"),
        ("step", "PENDING", "QUEUED"),
        ("step", "PENDING", "QUEUED"),
    ]
    # each step's attempt event names its step, in the steps' order
    assert rows[4].step_run_id == rows[6].step_run_id == rows[2].step_run_id
    assert rows[5].step_run_id == rows[7].step_run_id == rows[3].step_run_id
    assert rows[4].attempt_id is not None and rows[4].attempt_id != rows[5].attempt_id
    assert {r.actor for r in rows} == {"alice"}  # each part of the statement binds its own
    assert harness.drain(run_id).status == "SUCCEEDED"


def _run_history(harness: Harness, run_id: int) -> list[tuple[str | None, str]]:
    e = tables.events
    with harness.db.read() as conn:
        return [
            (r.from_status, r.to_status)
            for r in conn.execute(
                select(e.c.from_status, e.c.to_status)
                .where(e.c.run_id == run_id, e.c.entity == "run")
                .order_by(e.c.id)
            )
        ]


@pytest.mark.parametrize(
    ("outputs", "fails", "status"),
    [
        ("", False, "SUCCEEDED"),  # ended by the counters' statement
        ('outputs: {last: "{{ steps.b.outputs.v }}"}\n', False, "SUCCEEDED"),  # rendered first
        ("", True, "FAILED"),
    ],
)
def test_a_run_ends_once_with_its_event_outputs_and_end_time(
    harness: Harness, outputs: str, fails: bool, status: str
) -> None:
    """The last step's report ends the run: in the statement that writes the run's counters
    when nothing failed and there are no workflow outputs to render, else in one of its own
    — the same row and history either way."""
    command = "exit 3" if fails else "echo v=ok >> $MAESTRO_OUTPUT"
    run_id = harness.start(
        f"id: ends\nowner: t\n{outputs}steps:\n"
        "  - {id: a, type: noop}\n"
        f"  - {{id: b, type: shell, depends_on: [a], shell: {{command: '{command}'}}}}\n"
    )
    view = harness.drain(run_id)
    assert view.status == status
    assert _run_history(harness, run_id) == [
        (None, "QUEUED"),
        ("QUEUED", "RUNNING"),
        ("RUNNING", status),
    ]
    r, a = tables.runs, tables.attempts
    with harness.db.read() as conn:
        row = conn.execute(
            select(r.c.outputs, r.c.error, r.c.ended_at, r.c.steps_unfinished).where(
                r.c.id == run_id
            )
        ).one()
        last_end = conn.execute(select(func.max(a.c.ended_at)).where(a.c.run_id == run_id)).scalar()
    assert row.ended_at == last_end and row.steps_unfinished == 0
    if fails:
        assert row.error and "b" in row.error
    else:
        assert row.error is None
        assert row.outputs == ({"last": "ok"} if outputs else {})


def test_starting_a_run_that_is_no_longer_queued_writes_nothing(harness: Harness) -> None:
    """Two starts of one run (a scheduler's admission racing an API call's): the second
    finds it RUNNING and writes neither the run nor step rows nor events."""
    run_id = harness.start(
        "id: twice\nowner: t\nsteps: [{id: a, type: noop}, {id: b, type: noop}]\n"
    )

    def written() -> tuple[int, int]:
        with harness.db.read() as conn:
            steps = conn.execute(
                select(func.count()).where(tables.step_runs.c.run_id == run_id)
            ).scalar_one()
            events = conn.execute(
                select(func.count()).where(tables.events.c.run_id == run_id)
            ).scalar_one()
        return steps, events

    before = written()
    with harness.engine.unit() as u:
        assert start_run(u, harness.engine.versions, run_id) is False
    assert written() == before == (2, before[1])
    assert harness.drain(run_id).status == "SUCCEEDED"


def test_the_hot_paths_statements_all_run_on_the_drivers_cursor(harness: Harness) -> None:
    """No statement of a chain, a fan-out waiting for slots or a foreach falls back to
    SQLAlchemy's execution (an expanding ``IN`` in one did, and cost a fifth of a step)."""
    del direct.unprepared[:]
    fan_out = "\n".join(f"  - {{id: s{i}, type: noop}}" for i in range(6))
    foreach = """
        id: loop
        owner: t
        steps:
          - id: each
            type: foreach
            foreach:
              items: "range(4) | list"
              concurrency: 2
              steps:
                - {id: body, type: noop}
        """
    for text in (
        f"id: chain\nowner: t\nsteps:\n{_chain(4)}\n",
        f"id: slots\nowner: t\nmax_active_steps: 2\nsteps:\n{fan_out}\n",
        foreach,
    ):
        run_id = harness.start(text)
        assert harness.drain(run_id).status == "SUCCEEDED"
    assert [str(statement) for _, statement in direct.unprepared] == []


def test_a_run_started_in_the_unit_that_created_it_is_not_read_again(harness: Harness) -> None:
    """The INSERT returns the run's row, and ``start_run`` takes it from there."""
    workflow_id = harness.submit("id: once\nowner: t\nsteps: [{id: a, type: noop}]\n")
    seen: list[str] = []

    def listen(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        seen.append(statement)

    event.listen(harness.db.engine, "before_cursor_execute", listen)
    try:
        with harness.engine.unit() as u:
            run_id = create_run(u, harness.engine.versions, workflow_id)
            assert run_id in u.new_runs
            assert start_run(u, harness.engine.versions, run_id)
    finally:
        event.remove(harness.db.engine, "before_cursor_execute", listen)
    reads = [s for s in seen if s.lstrip().upper().startswith("SELECT") and "FROM runs" in s]
    assert reads == []
    assert harness.drain(run_id).status == "SUCCEEDED"
