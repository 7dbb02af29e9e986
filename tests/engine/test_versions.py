"""Versions (immutable, staged, activated, rolled back; runs pinned; triggers follow the active
version) and workflow pause/resume (triggers only)."""

from __future__ import annotations

import pytest

from maestro.engine.triggers import start_runs_for_signal
from maestro.engine.versions import activate_version, set_paused
from maestro.errors import NotFound
from tests.engine.harness import Harness
from tests.engine.scheduling import (
    advance_to,
    complete,
    new_run,
    next_fire_at,
    runs,
    status,
    submit_yaml,
    trigger_rows,
    utc,
)


def _version(step: str, *, cron: str = "0 3 * * *", extra: str = "", strategy: str = "") -> str:
    return f"""
    id: wf
    owner: t
    triggers:
      - {{cron: "{cron}", catchup: true}}
      {extra}
    {strategy}
    steps: [{{id: {step}, type: noop}}]
    """


def _steps(h: Harness, run_id: int) -> list[str]:
    return [s.step_id for s in h.view(run_id).steps]


def test_identical_content_returns_the_same_version(harness: Harness) -> None:
    first = submit_yaml(harness, _version("a"))
    again = submit_yaml(harness, _version("a"))
    changed = submit_yaml(harness, _version("b"))
    assert (first.version, first.created) == (1, True)
    assert (again.version, again.created) == (1, False)
    assert (changed.version, changed.created) == (2, True)


def test_staged_versions_activation_rollback_and_pinned_runs(harness: Harness) -> None:
    parallel = "run_strategy: parallel"
    submit_yaml(harness, _version("v1_step", strategy=parallel))
    staged = submit_yaml(harness, _version("v2_step", strategy=parallel), activate=False)
    assert staged.version == 2
    on_v1 = new_run(harness, "wf")
    explicit = new_run(harness, "wf", version=2)
    assert (harness.view(on_v1).version, _steps(harness, on_v1)) == (1, ["v1_step"])
    assert (harness.view(explicit).version, _steps(harness, explicit)) == (2, ["v2_step"])
    activate_version(harness.engine, "wf", 2, "alice")
    on_v2 = new_run(harness, "wf")
    assert harness.view(on_v2).version == 2
    # the run created on version 1 keeps running version 1
    assert complete(harness, on_v1) == "SUCCEEDED"
    assert (harness.view(on_v1).version, _steps(harness, on_v1)) == (1, ["v1_step"])
    activate_version(harness.engine, "wf", 1, "alice")  # rollback
    assert harness.view(new_run(harness, "wf")).version == 1
    with pytest.raises(NotFound, match="no version 7"):
        activate_version(harness.engine, "wf", 7, "alice")
    with pytest.raises(NotFound, match="does not exist"):
        activate_version(harness.engine, "nope", 1, "alice")


def test_triggers_follow_the_active_version(harness: Harness) -> None:
    signal = "- {signal: landed, match: {table: plays}}"
    submit_yaml(harness, _version("a"))
    submit_yaml(harness, _version("b", cron="0 4 * * *", extra=signal), activate=False)
    assert [kind for kind, _ in trigger_rows(harness, "wf")] == ["cron"]
    assert next_fire_at(harness, "wf") == [utc(2026, 1, 1, 3)]
    activate_version(harness.engine, "wf", 2, "alice")
    assert [(k, s.get("cron") or s.get("signal")) for k, s in trigger_rows(harness, "wf")] == [
        ("cron", "0 4 * * *"),
        ("signal", "landed"),
    ]
    assert next_fire_at(harness, "wf") == [utc(2026, 1, 1, 4)]
    activate_version(harness.engine, "wf", 1, "alice")
    assert [kind for kind, _ in trigger_rows(harness, "wf")] == ["cron"]
    with harness.engine.unit() as u:
        assert (
            start_runs_for_signal(u, harness.engine.versions, 1, "landed", {"table": "plays"}) == []
        )


def test_a_new_version_with_the_same_schedule_neither_skips_nor_repeats_a_tick(
    harness: Harness,
) -> None:
    submit_yaml(harness, _version("a"))
    advance_to(harness, utc(2026, 1, 1, 3, 30))  # the 03:00 tick is due, not fired yet
    submit_yaml(harness, _version("b", strategy="run_strategy: parallel"))
    assert next_fire_at(harness, "wf") == [utc(2026, 1, 1, 3)]
    harness.scheduler.tick()
    harness.scheduler.tick()
    (run,) = runs(harness, "wf")
    assert (run.logical_date, run.version) == (utc(2026, 1, 1, 3), 2)


def test_pausing_stops_the_triggers_only_and_resuming_skips_what_fell_meanwhile(
    harness: Harness,
) -> None:
    signal = "- {signal: landed}"
    submit_yaml(harness, _version("a", extra=signal, strategy="run_strategy: parallel"))
    set_paused(harness.engine, "wf", True, "ops")
    manual = new_run(harness, "wf")
    assert status(harness, manual) == "RUNNING"  # manual starts are not triggers
    advance_to(harness, utc(2026, 1, 3, 12))
    harness.scheduler.tick()
    with harness.engine.unit() as u:
        assert start_runs_for_signal(u, harness.engine.versions, 1, "landed", {}) == []
    assert [r.id for r in runs(harness, "wf")] == [manual]
    assert next_fire_at(harness, "wf") == [utc(2026, 1, 4, 3)]
    set_paused(harness.engine, "wf", False, "ops")
    harness.scheduler.tick()
    assert len(runs(harness, "wf")) == 1  # catchup: true, yet the paused days are skipped
    advance_to(harness, utc(2026, 1, 4, 3))
    harness.scheduler.tick()
    assert [r.logical_date for r in runs(harness, "wf")][1:] == [utc(2026, 1, 4, 3)]
    with harness.engine.unit() as u:
        assert len(start_runs_for_signal(u, harness.engine.versions, 2, "landed", {})) == 1
    with pytest.raises(NotFound):
        set_paused(harness.engine, "nope", True, "ops")


def test_a_resumed_workflow_skips_ticks_even_if_no_scheduler_ran_while_it_was_paused(
    harness: Harness,
) -> None:
    submit_yaml(harness, _version("a"))
    set_paused(harness.engine, "wf", True, "ops")
    advance_to(harness, utc(2026, 1, 3, 12))  # no scheduler pass while paused
    set_paused(harness.engine, "wf", False, "ops")
    assert next_fire_at(harness, "wf") == [utc(2026, 1, 4, 3)]
    harness.scheduler.tick()
    assert runs(harness, "wf") == []


def test_activating_a_version_with_another_strategy_applies_to_the_queue(
    harness: Harness,
) -> None:
    submit_yaml(harness, _version("a"))
    ids = [new_run(harness, "wf") for _ in range(3)]
    assert [status(harness, i) for i in ids] == ["RUNNING", "QUEUED", "QUEUED"]
    submit_yaml(harness, _version("a", strategy="run_strategy: parallel"))
    harness.scheduler.tick()
    assert [status(harness, i) for i in ids] == ["RUNNING"] * 3
    assert [harness.view(i).version for i in ids] == [1, 1, 1]  # queued runs stay pinned
