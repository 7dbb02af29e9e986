"""Small SVG charts drawn on the server: the duration of each run of a grid page, and the
Gantt timeline of a run's attempts. Bars take their status colors from ``status.LOOKS`` and
carry a tooltip naming the status, so the charts read without color too."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup, escape

from api.web.status import look
from maestro.reads import AttemptBar, RunBar, StepSummary

#: width of one run's column in the history grid; the duration chart uses the same columns
COLUMN = 26
CHART_H = 96
GANTT_W = 960
GANTT_LABEL = 170
GANTT_ROW = 22
#: the most rows the timeline draws (steps beyond are summarized)
MAX_GANTT_ROWS = 400


def human_duration(seconds: float | None) -> str:
    """``850ms``, ``42s``, ``3m 05s``, ``2h 04m``, ``3d 4h``; an em dash when unknown."""
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


#: human steps between the duration axis's ticks (seconds): 10 ms up to 30 days
TICK_STEPS = (
    *(m * 10.0**e for e in range(-2, 1) for m in (1, 2, 5)),
    10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
    86400, 172800, 432000, 864000, 2592000,
)  # fmt: skip
#: most intervals on the duration axis
MAX_TICKS = 4
#: room above the top tick (for its label)
CHART_TOP = 8
#: width of the axis drawn in the grid's row header
AXIS_W = 104


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0–100) by linear interpolation between the closest ranks
    (numpy's default); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    at = (len(ordered) - 1) * q / 100
    low = int(at)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


def ticks(longest: float) -> list[float]:
    """Ticks from 0 at a human step (``TICK_STEPS``), at most ``MAX_TICKS`` intervals, the
    last one at or above ``longest``."""
    step = next((s for s in TICK_STEPS if longest <= s * MAX_TICKS), None)
    if step is None:  # longer than the steps go: a whole number of the largest
        step = TICK_STEPS[-1] * -(-longest // (TICK_STEPS[-1] * MAX_TICKS))
    count = max(1, math.ceil(longest / step - 1e-9))
    return [round(k * step, 6) for k in range(count + 1)]


def tick_label(seconds: float) -> str:
    """A tick's short label: ``0``, ``250ms``, ``1.5s``, ``30s``, ``5m``, ``2h``, ``1d 12h``."""
    if seconds == 0:
        return "0"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:g}s"
    if seconds < 3600:
        minutes, secs = divmod(round(seconds), 60)
        return f"{minutes}m" + (f" {secs:02d}s" if secs else "")
    if seconds < 86400:
        hours, minutes = divmod(round(seconds) // 60, 60)
        return f"{hours}h" + (f" {minutes:02d}m" if minutes else "")
    days, hours = divmod(round(seconds) // 3600, 24)
    return f"{days}d" + (f" {hours}h" if hours else "")


@dataclass(frozen=True)
class DurationChart:
    """The duration chart of a grid page: the bars (what ``{{ chart }}`` renders, one column
    per run) and the axis drawn in the row header beside them, with the p50 and p95 of the
    runs shown that have ended."""

    bars: Markup
    axis: Markup
    p50: float | None
    p95: float | None
    ticks: tuple[float, ...]

    def __html__(self) -> str:
        return str(self.bars)

    def __str__(self) -> str:
        return str(self.bars)


def _y(value: float, top: float) -> float:
    return CHART_H - (CHART_H - CHART_TOP) * value / top


def durations(runs: Sequence[RunBar], now: datetime) -> DurationChart:
    """One bar per run, newest left, aligned with the grid's columns; height = duration on
    an axis of human ticks; dashed lines at the p50 and p95 of the ended runs' durations."""
    values = [r.duration(now) for r in runs]
    ended = [v for r, v in zip(runs, values, strict=True) if v is not None and r.ended_at]
    longest = max((v for v in values if v is not None), default=0.0)
    marks = ticks(longest or 1.0)
    top = marks[-1]
    p50, p95 = percentile(ended, 50), percentile(ended, 95)
    width = max(len(runs) * COLUMN, 1)
    parts = [
        f'<line class="tick-line" x1="0" y1="{_y(t, top):.1f}" x2="{width}" y2="{_y(t, top):.1f}"'
        ' stroke="#d0d7de" stroke-width="0.6"/>'
        for t in marks[1:]
    ]
    for i, (run, value) in enumerate(zip(runs, values, strict=True)):
        lk = look(run.status)
        height = 2 if value is None else max(2.0, CHART_H - _y(value, top))
        tip = f"run #{run.number}: {lk.label}, {human_duration(value)}"
        parts.append(
            f'<rect x="{i * COLUMN + 3}" y="{CHART_H - height:.1f}" width="{COLUMN - 6}"'
            f' height="{height:.1f}" fill="{lk.fill}" stroke="#57606a" stroke-width="0.5"'
            f' data-status="{escape(run.status)}"><title>{escape(tip)}</title></rect>'
        )
    for name, value, dash in (("p50", p50, "6 3"), ("p95", p95, "2 2")):
        if value is not None:
            y = _y(value, top)
            tip = f"{name} of the {len(ended)} ended run(s) shown: {human_duration(value)}"
            parts.append(
                f'<line class="{name}" x1="0" y1="{y:.1f}" x2="{width}" y2="{y:.1f}"'
                f' stroke="#1f2328" stroke-width="1.2" stroke-dasharray="{dash}"'
                f' data-seconds="{value:.3f}"><title>{escape(tip)}</title></line>'
            )
    if ended:
        spread = f"p50 {human_duration(p50)}, p95 {human_duration(p95)} of {len(ended)} ended"
    else:
        spread = "no run shown has ended"
    label = f"Duration of each run; the longest took {human_duration(longest)}; {spread}"
    bars = Markup(
        f'<svg class="durations" xmlns="http://www.w3.org/2000/svg" role="img"'
        f' aria-label="{escape(label)}"'
        f' width="{width}" height="{CHART_H}" viewBox="0 0 {width} {CHART_H}">'
        f'<line class="baseline" x1="0" y1="{CHART_H - 0.5}" x2="{width}" y2="{CHART_H - 0.5}"'
        f' stroke="#8c959f"/>{"".join(parts)}</svg>'
    )
    axis = _axis_of_durations(marks, p50, p95)
    return DurationChart(bars, axis, p50, p95, tuple(marks))


def _axis_of_durations(marks: Sequence[float], p50: float | None, p95: float | None) -> Markup:
    """The y axis beside the bars: ticks labelled at the right, p50/p95 labelled at their
    lines' heights from the left edge (moved apart when they would overlap)."""
    top = marks[-1]
    right = AXIS_W - 1
    parts = [f'<line x1="{right}" y1="{CHART_TOP}" x2="{right}" y2="{CHART_H}" class="axis"/>']
    for t in marks:
        y = _y(t, top)
        parts.append(
            f'<line x1="{right - 4}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" class="axis"/>'
            f'<text x="{right - 6}" y="{min(y + 3.5, CHART_H - 1):.1f}" text-anchor="end"'
            f' class="tick">{escape(tick_label(t))}</text>'
        )
    spots = {name: _y(v, top) for name, v in (("p50", p50), ("p95", p95)) if v is not None}
    if len(spots) == 2 and spots["p50"] - spots["p95"] < 11:  # too close: push apart
        middle = (spots["p50"] + spots["p95"]) / 2
        spots = {"p95": middle - 5.5, "p50": middle + 5.5}
    # baselines 3.5 px below the lines, kept inside the drawing (both moved together)
    low, high = CHART_TOP + 2 - 3.5, CHART_H - 1 - 3.5
    shift = max(0.0, low - min(spots.values(), default=low))
    shift -= max(0.0, max(spots.values(), default=high) + shift - high)
    for name, value in (("p50", p50), ("p95", p95)):
        if value is None:
            continue
        y = spots[name] + shift + 3.5
        parts.append(
            f'<text x="1" y="{y:.1f}" class="pct {name}">'
            f"{name} {escape(human_duration(value))}</text>"
        )
    return Markup(
        f'<svg class="duration-axis" xmlns="http://www.w3.org/2000/svg" aria-hidden="true"'
        f' width="{AXIS_W}" height="{CHART_H}" viewBox="0 0 {AXIS_W} {CHART_H}">'
        f"{''.join(parts)}</svg>"
    )


def _rows(attempts: Sequence[AttemptBar]) -> list[tuple[str, list[AttemptBar]]]:
    """Attempts grouped by step, steps in the order of their first attempt."""
    rows: dict[str, list[AttemptBar]] = {}
    for attempt in attempts:
        rows.setdefault(attempt.step_id, []).append(attempt)
    return list(rows.items())


#: steps that run no attempt of their own: their time is their child runs'
SPAN_TYPES = frozenset({"foreach", "subworkflow"})


def step_spans(steps: Sequence[StepSummary]) -> list[AttemptBar]:
    """The foreach and subworkflow steps that have started, as bars of the timeline (number
    0: the step itself, from its start to its end), so that the axis covers their time."""
    return [
        AttemptBar(s.step_id, 0, s.status.value, s.started_at, s.started_at, s.ended_at, None)
        for s in steps
        if s.step_type in SPAN_TYPES and s.started_at is not None
    ]


def gantt(
    attempts: Sequence[AttemptBar], now: datetime, spans: Sequence[AttemptBar] = ()
) -> Markup:
    """A row per step, a bar per attempt from its start (or its queueing, drawn lighter
    before it started) to its end (or now); ``spans`` (``step_spans``) add the steps that
    run child runs instead of attempts."""
    attempts = sorted([*attempts, *spans], key=lambda a: a.created_at)
    if not attempts:
        return Markup('<p class="muted">No attempts yet.</p>')
    rows = _rows(attempts)[:MAX_GANTT_ROWS]
    start = min(a.created_at for a in attempts)
    end = max(max((a.ended_at or now) for a in attempts), start)
    span = max((end - start).total_seconds(), 0.001)
    scale = (GANTT_W - GANTT_LABEL - 10) / span

    def x(moment: datetime) -> float:
        return GANTT_LABEL + (moment - start).total_seconds() * scale

    parts = [_axis(span, len(rows))]
    for i, (step_id, bars) in enumerate(rows):
        y = 20 + i * GANTT_ROW
        parts.append(
            f'<text x="{GANTT_LABEL - 6}" y="{y + 14}" text-anchor="end" class="label">'
            f"{escape(step_id if len(step_id) <= 22 else step_id[:21] + '…')}</text>"
        )
        parts.extend(_bar(a, y, x, now) for a in bars)
    height = 28 + len(rows) * GANTT_ROW
    return Markup(
        f'<svg class="gantt" xmlns="http://www.w3.org/2000/svg" role="img"'
        f' aria-label="Timeline of {len(rows)} step(s)" viewBox="0 0 {GANTT_W} {height}"'
        f' width="{GANTT_W}" height="{height}">{"".join(parts)}</svg>'
    )


def _bar(a: AttemptBar, y: float, x: Callable[[datetime], float], now: datetime) -> str:
    lk = look(a.status)
    began = a.started_at or a.ended_at or now
    x0, x1, x2 = x(a.created_at), x(began), x(a.ended_at or now)
    took = ((a.ended_at or now) - began).total_seconds() if a.started_at else None
    what = f"attempt {a.number}" if a.number else "child runs"
    tip = f"{a.step_id} {what}: {lk.label}, ran {human_duration(took)}"
    if a.worker:
        tip += f" on {a.worker}"
    queued = (
        f'<rect x="{x0:.1f}" y="{y + 7}" width="{max(x1 - x0, 0):.1f}" height="6"'
        f' fill="{lk.fill}" opacity="0.35"/>'
        if x1 > x0
        else ""
    )
    return (
        f'<g class="{"attempt" if a.number else "span"}" data-step="{escape(a.step_id)}"'
        f' data-status="{escape(a.status)}"><title>{escape(tip)}</title>{queued}'
        f'<rect x="{x1:.1f}" y="{y + 2}" width="{max(x2 - x1, 2):.1f}" height="16" rx="2"'
        f' fill="{lk.fill}" stroke="#1f2328" stroke-width="0.6"/>'
        f'<text x="{x1 + 3:.1f}" y="{y + 14}" class="sym" fill="{lk.text}">'
        f"{escape(lk.symbol if x2 - x1 >= 12 else '')}</text></g>"
    )


def _axis(span: float, rows: int) -> str:
    ticks = []
    bottom = 20 + rows * GANTT_ROW
    for k in range(5):
        at = GANTT_LABEL + k * (GANTT_W - GANTT_LABEL - 10) / 4
        anchor = "end" if k == 4 else "middle"
        ticks.append(
            f'<line x1="{at:.1f}" y1="14" x2="{at:.1f}" y2="{bottom}" stroke="#d0d7de"/>'
            f'<text x="{at:.1f}" y="11" text-anchor="{anchor}" class="tick">'
            f"+{escape(human_duration(span * k / 4))}</text>"
        )
    return "".join(ticks)
