"""Small SVG charts drawn on the server: the duration of each run of a grid page, and the
Gantt timeline of a run's attempts. Bars take their status colors from ``status.LOOKS`` and
carry a tooltip naming the status, so the charts read without color too."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from markupsafe import Markup, escape

from api.web.status import look
from maestro.reads import AttemptBar, RunBar, StepSummary

#: width of one run's column in the history grid; the duration chart uses the same columns
COLUMN = 26
CHART_H = 64
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


def durations(runs: Sequence[RunBar], now: datetime) -> Markup:
    """One bar per run, newest left, aligned with the grid's columns; height = duration."""
    values = [r.duration(now) for r in runs]
    longest = max((v for v in values if v is not None), default=0.0) or 1.0
    bars = []
    for i, (run, value) in enumerate(zip(runs, values, strict=True)):
        lk = look(run.status)
        height = 2 if value is None else max(2.0, (CHART_H - 4) * value / longest)
        tip = f"run #{run.number}: {lk.label}, {human_duration(value)}"
        bars.append(
            f'<rect x="{i * COLUMN + 3}" y="{CHART_H - height:.1f}" width="{COLUMN - 6}"'
            f' height="{height:.1f}" fill="{lk.fill}" stroke="#57606a" stroke-width="0.5">'
            f"<title>{escape(tip)}</title></rect>"
        )
    width = max(len(runs) * COLUMN, 1)
    return Markup(
        f'<svg class="durations" xmlns="http://www.w3.org/2000/svg" role="img"'
        f' aria-label="Duration of each run; the longest took {escape(human_duration(longest))}"'
        f' width="{width}" height="{CHART_H}" viewBox="0 0 {width} {CHART_H}">'
        f'<line x1="0" y1="{CHART_H - 0.5}" x2="{width}" y2="{CHART_H - 0.5}" stroke="#8c959f"/>'
        f"{''.join(bars)}</svg>"
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
