"""Cron and signal triggers: tick arithmetic (DST, catchup), firing by the scheduler, signals."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from maestro.engine import signals
from maestro.engine.cron import MAX_TICKS_PER_FIRING, CronSchedule, plan_firing
from maestro.engine.matching import payload_matches
from maestro.engine.triggers import matching_triggers, start_runs_for_signal
from maestro.engine.versions import set_paused
from tests.engine.harness import Harness
from tests.engine.scheduling import advance_to, next_fire_at, runs, submit_yaml, utc

LA = "America/Los_Angeles"
BERLIN = "Europe/Berlin"


def _local_dates(ticks: list[datetime], zone: str) -> list[str]:
    return [t.astimezone(ZoneInfo(zone)).date().isoformat() for t in ticks]


# -- tick arithmetic ----------------------------------------------------------------------


def test_a_daily_job_in_the_spring_forward_gap_runs_once_shifted_by_the_jump() -> None:
    # 2026-03-08, Los Angeles: 02:00 PST jumps to 03:00 PDT; 02:30 does not exist that day
    ticks = CronSchedule("30 2 * * *", LA).between(utc(2026, 3, 7), utc(2026, 3, 10))
    assert ticks == [utc(2026, 3, 7, 10, 30), utc(2026, 3, 8, 10, 30), utc(2026, 3, 9, 9, 30)]
    assert _local_dates(ticks, LA) == ["2026-03-07", "2026-03-08", "2026-03-09"]
    assert ticks[1].astimezone(ZoneInfo(LA)).strftime("%H:%M") == "03:30"


def test_a_daily_job_in_the_repeated_fall_back_hour_runs_once_at_its_first_occurrence() -> None:
    # 2026-11-01, Los Angeles: 01:00-02:00 happens twice (PDT, then PST)
    ticks = CronSchedule("30 1 * * *", LA).between(utc(2026, 10, 31), utc(2026, 11, 3))
    assert ticks == [utc(2026, 10, 31, 8, 30), utc(2026, 11, 1, 8, 30), utc(2026, 11, 2, 9, 30)]
    assert _local_dates(ticks, LA) == ["2026-10-31", "2026-11-01", "2026-11-02"]


def test_both_transitions_in_berlin() -> None:
    schedule = CronSchedule("30 2 * * *", BERLIN)
    spring = schedule.between(utc(2026, 3, 28), utc(2026, 3, 30, 12))
    assert spring == [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 30), utc(2026, 3, 30, 0, 30)]
    autumn = schedule.between(utc(2026, 10, 24), utc(2026, 10, 26, 12))
    # 02:30 happens twice on the 25th (CEST, then CET): it fires at the first one only
    assert autumn == [utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]


def test_every_hour_jobs_follow_real_time_through_both_transitions() -> None:
    half_hourly = CronSchedule("*/30 * * * *", LA)
    autumn = half_hourly.between(utc(2026, 11, 1, 7), utc(2026, 11, 1, 11))
    assert autumn == [utc(2026, 11, 1, 7, 30) + timedelta(minutes=30 * i) for i in range(8)]
    spring = half_hourly.between(utc(2026, 3, 8, 9), utc(2026, 3, 8, 11))
    assert spring == [utc(2026, 3, 8, 9, 30) + timedelta(minutes=30 * i) for i in range(4)]


def test_the_next_tick_is_found_from_inside_a_transition() -> None:
    daily = CronSchedule("30 2 * * *", LA)
    # 03:20 PDT on the spring-forward day: the shifted 02:30 (03:30 PDT) is still to come
    assert daily.next_after(utc(2026, 3, 8, 10, 20)) == utc(2026, 3, 8, 10, 30)
    assert daily.next_after(utc(2026, 3, 8, 10, 30)) == utc(2026, 3, 9, 9, 30)
    assert CronSchedule("0 9 * * *", "Asia/Kolkata").next_after(utc(2026, 1, 1)) == utc(
        2026, 1, 1, 3, 30
    )


def test_an_expression_that_never_matches_has_no_next_tick() -> None:
    assert CronSchedule("0 0 30 2 *").next_after(utc(2026, 1, 1)) is None


def test_the_ticks_end_with_the_calendar() -> None:
    # the next 1 January, or 29 February, would be in year 10000: no tick, not a ValueError;
    # 1 January 0001 at +14:00 is before year 1 in UTC: no tick, not an OverflowError
    assert CronSchedule("0 0 1 1 *").next_after(datetime(9999, 6, 1, tzinfo=UTC)) is None
    assert CronSchedule("0 0 29 2 *").next_after(datetime(9997, 1, 1, tzinfo=UTC)) is None
    early = CronSchedule("0 0 1 1 *", "Etc/GMT-14")
    assert early.in_range(datetime(1, 1, 2, tzinfo=UTC), datetime(1, 1, 3, tzinfo=UTC)) == []


def test_in_range_includes_both_ends() -> None:
    ticks = CronSchedule("0 3 * * *").in_range(utc(2026, 1, 1, 3), utc(2026, 1, 3, 3))
    assert ticks == [utc(2026, 1, 1, 3), utc(2026, 1, 2, 3), utc(2026, 1, 3, 3)]


def test_catchup_false_plans_only_the_latest_missed_tick() -> None:
    daily = CronSchedule("0 3 * * *")
    plan = plan_firing(daily, catchup=False, due_at=utc(2026, 1, 1, 3), now=utc(2026, 1, 4, 5))
    assert plan.ticks == (utc(2026, 1, 4, 3),)
    assert plan.next_fire_at == utc(2026, 1, 5, 3)
    # a per-minute job down for a year: still one tick, found without walking the year
    minutely = CronSchedule("* * * * *")
    long = plan_firing(
        minutely, catchup=False, due_at=utc(2025, 1, 1), now=utc(2026, 1, 1, 0, 0, 30)
    )
    assert long.ticks == (utc(2026, 1, 1),)


def test_catchup_true_plans_every_missed_tick_oldest_first_in_bounded_batches() -> None:
    daily = CronSchedule("0 3 * * *")
    plan = plan_firing(daily, catchup=True, due_at=utc(2026, 1, 1, 3), now=utc(2026, 1, 4, 5))
    assert plan.ticks == tuple(utc(2026, 1, d, 3) for d in (1, 2, 3, 4))
    assert plan.next_fire_at == utc(2026, 1, 5, 3)
    minutely = CronSchedule("* * * * *")
    now = utc(2026, 1, 1, 5)
    first = plan_firing(minutely, catchup=True, due_at=utc(2026, 1, 1), now=now)
    assert len(first.ticks) == MAX_TICKS_PER_FIRING
    assert first.next_fire_at == utc(2026, 1, 1) + timedelta(minutes=MAX_TICKS_PER_FIRING)


def test_a_paused_trigger_plans_nothing_and_moves_past_now() -> None:
    plan = plan_firing(
        CronSchedule("0 3 * * *"),
        catchup=True,
        due_at=utc(2026, 1, 1, 3),
        now=utc(2026, 1, 4, 5),
        paused=True,
    )
    assert plan.ticks == () and plan.next_fire_at == utc(2026, 1, 5, 3)


def test_payload_matching() -> None:
    assert payload_matches({"table": "plays"}, {"table": "plays", "ds": "2026-01-01"})
    assert payload_matches({}, {"anything": 1})
    assert not payload_matches({"table": "plays"}, {"table": "ratings"})
    assert not payload_matches({"table": "plays"}, {"ds": "2026-01-01"})
    assert not payload_matches({"flag": True}, {"flag": 1})
    assert payload_matches({"n": 1}, {"n": 1.0})
    rows = [
        ("a", {"signal": "s", "match": {"x": 1}, "params": {"p": "first"}}),
        ("a", {"signal": "s", "match": {}, "params": {"p": "second"}}),
        ("b", {"signal": "other", "match": {}, "params": {}}),
    ]
    chosen = matching_triggers(rows, "s", {"x": 1})
    assert [(w, t.params) for w, t in chosen] == [("a", {"p": "first"})]
    assert [(w, t.params) for w, t in matching_triggers(rows, "s", {"x": 2})] == [
        ("a", {"p": "second"})
    ]


# -- firing ---------------------------------------------------------------------------------

NIGHTLY = """
id: nightly
owner: t
params:
  ds: {{type: date}}
triggers:
  - cron: "0 3 * * *"
    catchup: {catchup}
    params: {{ds: "{{{{ run.logical_date | ds }}}}"}}
run_strategy: {{kind: parallel, max_concurrency: 50}}
steps: [{{id: a, type: noop}}]
"""


def test_a_cron_tick_starts_one_run_with_its_logical_date_and_rendered_params(
    harness: Harness,
) -> None:
    submit_yaml(harness, NIGHTLY.format(catchup="false"))
    assert next_fire_at(harness, "nightly") == [utc(2026, 1, 1, 3)]
    advance_to(harness, utc(2026, 1, 1, 2, 59, 59))
    harness.scheduler.tick()
    assert runs(harness, "nightly") == []
    advance_to(harness, utc(2026, 1, 1, 3))
    harness.scheduler.tick()
    harness.scheduler.tick()
    (run,) = runs(harness, "nightly")
    assert (run.trigger, run.logical_date, run.params) == (
        "cron",
        utc(2026, 1, 1, 3),
        {"ds": "2026-01-01"},
    )
    assert run.status == "RUNNING"
    assert next_fire_at(harness, "nightly") == [utc(2026, 1, 2, 3)]


@pytest.mark.parametrize(("catchup", "dates"), [("false", [4]), ("true", [1, 2, 3, 4])])
def test_missed_ticks_after_a_downtime(harness: Harness, catchup: str, dates: list[int]) -> None:
    submit_yaml(harness, NIGHTLY.format(catchup=catchup))
    advance_to(harness, utc(2026, 1, 4, 5))  # the scheduler was down for four ticks
    harness.scheduler.tick()
    fired = runs(harness, "nightly")
    assert [r.logical_date for r in fired] == [utc(2026, 1, d, 3) for d in dates]
    assert [r.params["ds"] for r in fired] == [f"2026-01-0{d}" for d in dates]
    assert next_fire_at(harness, "nightly") == [utc(2026, 1, 5, 3)]


def test_catchup_of_many_ticks_continues_over_passes(harness: Harness) -> None:
    submit_yaml(
        harness,
        """
        id: minutely
        owner: t
        triggers: [{cron: "* * * * *", catchup: true}]
        steps: [{id: a, type: noop}]
        """,
    )
    advance_to(harness, utc(2026, 1, 1, 4, 10))  # 250 ticks missed
    harness.scheduler.tick()
    assert len(runs(harness, "minutely")) == MAX_TICKS_PER_FIRING
    assert harness.scheduler.tick() == 0.0  # still due: the loop does not sleep
    harness.scheduler.tick()
    dates = [r.logical_date for r in runs(harness, "minutely")]
    assert dates == [utc(2026, 1, 1) + timedelta(minutes=m) for m in range(1, 251)]


def test_a_0230_job_fires_once_on_both_dst_days(harness: Harness) -> None:
    # Berlin: 02:30 does not exist on 2026-03-29 and happens twice on 2026-10-25
    advance_to(harness, utc(2026, 3, 28, 12))
    submit_yaml(
        harness,
        """
        id: berlin
        owner: t
        triggers: [{cron: "30 2 * * *", timezone: Europe/Berlin}]
        run_strategy: parallel
        steps: [{id: a, type: noop}]
        """,
    )
    for start, end in (
        (utc(2026, 3, 28, 12), utc(2026, 3, 30, 12)),
        (utc(2026, 10, 24, 12), utc(2026, 10, 26, 12)),
    ):
        advance_to(harness, start)
        harness.scheduler.tick()
        while harness.clock.now() < end:  # a scheduler ticking every 20 minutes
            harness.clock.advance(1200)
            harness.scheduler.tick()
    fired = [r.logical_date for r in runs(harness, "berlin")]
    assert fired == [
        utc(2026, 3, 29, 1, 30),  # 03:30 CEST: the jump's length after 02:30
        utc(2026, 3, 30, 0, 30),
        utc(2026, 10, 24, 0, 30),  # the latest tick missed while the test jumped ahead
        utc(2026, 10, 25, 0, 30),  # 02:30 CEST, the first of the two
        utc(2026, 10, 26, 1, 30),
    ]


def test_a_tick_whose_params_do_not_render_starts_nothing_and_moves_on(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    submit_yaml(
        harness,
        """
        id: broken
        owner: t
        params: {x: {type: string}}
        triggers: [{cron: "0 3 * * *", params: {x: "{{ run.nope.deeper }}"}}]
        steps: [{id: a, type: noop}]
        """,
    )
    advance_to(harness, utc(2026, 1, 1, 3))
    with caplog.at_level(logging.ERROR, logger="maestro.engine.triggers"):
        harness.scheduler.tick()
    assert runs(harness, "broken") == []
    assert next_fire_at(harness, "broken") == [utc(2026, 1, 2, 3)]
    assert "starts no run" in caplog.text


def test_a_scoped_scheduler_fires_no_trigger(harness: Harness) -> None:
    """``maestro run`` drives its own run only: cron triggers wait for a real scheduler."""
    from maestro.engine.scheduler import Scheduler

    submit_yaml(harness, NIGHTLY.format(catchup="true"))
    advance_to(harness, utc(2026, 1, 2))
    Scheduler(harness.engine, scope={-1}).tick()
    assert runs(harness, "nightly") == []


# -- signals --------------------------------------------------------------------------------

PLAYS = """
id: {id}
owner: t
params:
  ds: {{type: date}}
  table: {{type: string, default: none}}
triggers:
  - signal: plays_landed
    match: {{table: {table}}}
    params: {{ds: "{{{{ signal.ds }}}}", table: "{{{{ signal.table }}}}"}}
run_strategy: parallel
steps: [{{id: a, type: noop}}]
"""


def test_a_matching_signal_starts_one_run_per_workflow_exactly_once(harness: Harness) -> None:
    submit_yaml(harness, PLAYS.format(id="plays", table="plays"))
    submit_yaml(harness, PLAYS.format(id="ratings", table="ratings"))
    submit_yaml(harness, PLAYS.format(id="asleep", table="plays"))
    set_paused(harness.engine, "asleep", True, "ops")
    payload = {"table": "plays", "ds": "2026-01-05"}
    with harness.engine.unit() as u:
        started = start_runs_for_signal(u, harness.engine.versions, 7, "plays_landed", payload)
    (run,) = runs(harness, "plays")
    assert started == [run.id]
    assert (run.trigger, run.status) == ("signal", "RUNNING")
    assert run.params == {"ds": "2026-01-05", "table": "plays"}
    assert runs(harness, "ratings") == [] and runs(harness, "asleep") == []
    with harness.engine.unit() as u:  # the same signal applied again starts nothing more
        again = start_runs_for_signal(u, harness.engine.versions, 7, "plays_landed", payload)
    assert again == [run.id] and len(runs(harness, "plays")) == 1
    with harness.engine.unit() as u:
        assert start_runs_for_signal(u, harness.engine.versions, 8, "other_signal", payload) == []


def test_a_published_signal_starts_runs_and_a_repeated_delivery_starts_nothing(
    harness: Harness,
) -> None:
    submit_yaml(harness, PLAYS.format(id="plays", table="plays"))
    payload = {"table": "plays", "ds": "2026-01-05"}
    first = signals.publish(harness.engine, "plays_landed", payload, dedupe_key="k1")
    second = signals.publish(harness.engine, "plays_landed", payload, dedupe_key="k1")
    (run,) = runs(harness, "plays")
    assert first.runs_started == [run.id]
    assert second.duplicate and second.runs_started == []
    third = signals.publish(harness.engine, "plays_landed", {**payload, "ds": "2026-01-06"})
    assert len(third.runs_started) == 1 and len(runs(harness, "plays")) == 2


def test_a_signal_missing_a_field_its_trigger_needs_starts_nothing(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    submit_yaml(harness, PLAYS.format(id="plays", table="plays"))
    with (
        caplog.at_level(logging.ERROR, logger="maestro.engine.triggers"),
        harness.engine.unit() as u,
    ):
        started = start_runs_for_signal(
            u, harness.engine.versions, 1, "plays_landed", {"table": "plays"}
        )
    assert started == [] and runs(harness, "plays") == []
    assert "starts no run of plays" in caplog.text
