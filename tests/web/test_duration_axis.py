"""The duration chart's y axis (human ticks) and its p50/p95 lines, computed from the runs
shown that have ended, on the chart and on the workflow page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from api.web import charts
from maestro.reads import RunBar
from maestro.states import RunStatus
from tests.engine.harness import Harness

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _run(i: int, took: float | None, *, ended: bool = True) -> RunBar:
    started = None if took is None else T0
    end = T0 + timedelta(seconds=took) if took is not None and ended else None
    status = RunStatus.SUCCEEDED if end else RunStatus.RUNNING if started else RunStatus.QUEUED
    return RunBar(i, i, 1, status, "manual", T0, started, end)


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([], 50, None),
        ([7.0], 95, 7.0),
        ([float(i) for i in range(1, 11)], 50, 5.5),
        ([float(i) for i in range(1, 11)], 95, 9.55),
        ([3.0, 1.0, 2.0], 50, 2.0),
        ([10.0, 20.0], 95, 19.5),
    ],
)
def test_percentiles_interpolate_between_ranks(
    values: list[float], q: float, expected: float | None
) -> None:
    assert charts.percentile(values, q) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("longest", "marks", "labels"),
    [
        (0.3, [0, 0.1, 0.2, 0.3], ["0", "100ms", "200ms", "300ms"]),
        (42, [0, 15, 30, 45], ["0", "15s", "30s", "45s"]),
        (185, [0, 60, 120, 180, 240], ["0", "1m", "2m", "3m", "4m"]),
        (3000, [0, 900, 1800, 2700, 3600], ["0", "15m", "30m", "45m", "1h"]),
        (90000, [0, 43200, 86400, 129600], ["0", "12h", "1d", "1d 12h"]),
    ],
)
def test_the_axis_ticks_are_human_steps_covering_the_longest_run(
    longest: float, marks: list[float], labels: list[str]
) -> None:
    ticks = charts.ticks(longest)
    assert ticks == pytest.approx(marks)
    assert ticks[-1] >= longest and len(ticks) - 1 <= charts.MAX_TICKS
    assert [charts.tick_label(t) for t in ticks] == labels


def _y(svg: str, css_class: str) -> float:
    found = re.search(rf'<line class="{css_class}" x1="0" y1="([\d.]+)"', svg)
    assert found, css_class
    return float(found.group(1))


def test_the_chart_draws_p50_and_p95_of_the_ended_runs_on_its_axis() -> None:
    # ten ended runs of 10..100 s, a running one (50 s so far) and a queued one
    runs = [_run(i, 10.0 * i) for i in range(1, 11)] + [_run(11, 50, ended=False), _run(12, None)]
    chart = charts.durations(runs, T0 + timedelta(seconds=50))
    assert chart.p50 == pytest.approx(55.0) and chart.p95 == pytest.approx(95.5)
    assert chart.ticks == (0, 30, 60, 90, 120)
    bars, axis = str(chart), str(chart.axis)
    assert bars == str(chart.bars) and bars.count("<rect") == 12
    # the lines sit where their values are on the axis (bottom = 0, CHART_TOP = 120 s)
    span = charts.CHART_H - charts.CHART_TOP
    assert _y(bars, "p50") == pytest.approx(charts.CHART_H - span * 55 / 120, abs=0.05)
    assert _y(bars, "p95") == pytest.approx(charts.CHART_H - span * 95.5 / 120, abs=0.05)
    # and a bar of 60 s reaches the 60 s tick
    bar = re.search(r'height="([\d.]+)" fill="[^"]+" [^>]*><title>run #6:', bars)
    lines = [float(y) for y in re.findall(r'<line class="tick-line" x1="0" y1="([\d.]+)"', bars)]
    assert bar and len(lines) == 4  # 30 s, 1 m, 1 m 30 s, 2 m
    assert charts.CHART_H - float(bar.group(1)) == pytest.approx(lines[1], abs=0.1)
    assert "p50 of the 10 ended run(s) shown: 55s" in bars
    assert "p50 55s, p95 1m 35s of 10 ended" in bars  # in the chart's accessible name
    # the axis: labelled ticks and the two labelled lines
    assert re.findall(r'class="tick">([^<]+)<', axis) == ["0", "30s", "1m", "1m 30s", "2m"]
    assert ">p50 55s<" in axis and ">p95 1m 35s<" in axis


def test_a_chart_without_ended_runs_has_no_percentile_lines() -> None:
    chart = charts.durations([_run(1, 20, ended=False), _run(2, None)], T0 + timedelta(seconds=20))
    assert chart.p50 is None and chart.p95 is None
    assert 'class="p50"' not in str(chart) and "p95" not in str(chart.axis)
    assert "no run shown has ended" in str(chart)


def test_close_percentile_labels_are_moved_apart() -> None:
    chart = charts.durations([_run(i, 60.0) for i in range(1, 5)], T0)
    ys = [float(y) for y in re.findall(r'y="([\d.]+)"[^>]*class="pct', str(chart.axis))]
    assert len(ys) == 2 and abs(ys[0] - ys[1]) >= 10.9


def test_the_workflow_page_shows_the_axis_beside_the_bars(
    client: TestClient, harness: Harness
) -> None:
    run_id = harness.start("id: w\nowner: o\nsteps: [{id: a, type: noop}]\n")
    harness.drain(run_id)
    page = client.get("/workflows/w").text
    axis = re.search(r'<th scope="row" class="chart-axis">(.*?)</th>', page, re.S)
    assert axis and 'class="duration-axis"' in axis.group(1) and ">p50 " in axis.group(1)
    assert '<svg class="durations"' in page and 'class="p95"' in page
