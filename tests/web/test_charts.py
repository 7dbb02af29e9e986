"""The duration chart and the attempts' timeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from api.web import charts
from maestro.reads import AttemptBar, RunBar
from maestro.states import RunStatus

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (None, "—"),
        (0.25, "250ms"),
        (4.25, "4.2s"),
        (42, "42s"),
        (185, "3m 05s"),
        (2 * 3600 + 4 * 60, "2h 04m"),
        (3 * 86400 + 4 * 3600, "3d 4h"),
    ],
)
def test_durations_read_like_a_person_writes_them(seconds: float | None, shown: str) -> None:
    assert charts.human_duration(seconds) == shown


def _run(i: int, status: RunStatus, took: float | None) -> RunBar:
    started = None if took is None else T0
    ended = None if took is None else T0 + timedelta(seconds=took)
    return RunBar(i, i, 1, status, "manual", T0, started, ended)


def test_the_duration_chart_has_a_bar_per_run_in_grid_columns() -> None:
    runs = [
        _run(3, RunStatus.FAILED, 10),
        _run(2, RunStatus.SUCCEEDED, 40),
        _run(1, RunStatus.QUEUED, None),
    ]
    svg = str(charts.durations(runs, T0))
    assert svg.count("<rect") == 3
    assert f'width="{3 * charts.COLUMN}"' in svg
    assert "run #2: succeeded, 40s" in svg and "run #3: failed, 10s" in svg
    assert "run #1: queued, —" in svg
    assert 'aria-label="Duration of each run; the longest took 40s; p50 25s, p95 38s' in svg


def test_the_timeline_has_a_row_per_step_and_a_bar_per_attempt() -> None:
    attempts = [
        AttemptBar("extract", 1, "SUCCEEDED", T0, T0, T0 + timedelta(seconds=3), "w1"),
        AttemptBar(
            "load", 1, "FAILED", T0, T0 + timedelta(seconds=3), T0 + timedelta(seconds=4), None
        ),
        AttemptBar(
            "load", 2, "RUNNING", T0 + timedelta(seconds=5), T0 + timedelta(seconds=6), None, "w2"
        ),
    ]
    svg = str(charts.gantt(attempts, T0 + timedelta(seconds=8)))
    assert svg.count('class="attempt"') == 3
    assert svg.count('class="label"') == 2  # extract, load
    assert "load attempt 2: running, ran 2.0s on w2" in svg
    assert 'data-status="FAILED"' in svg
    assert "+8.0s" in svg  # the axis spans the run so far


def test_a_timeline_without_attempts_says_so() -> None:
    assert "No attempts yet" in charts.gantt([], T0)
