"""The ``sleep`` step type: waits ``sleep.duration``, then succeeds.

The wait is ``ctx.cancel.wait(...)`` rather than ``time.sleep`` so that stopping the step (stop
action, timeout, lost ownership) ends it at once instead of after the full duration.

``duration`` is normally a ``timedelta`` (the definition parser turns ``30s`` into one). A
templated duration (``"{{ params.wait }}"``) arrives rendered: plain seconds (an int or
float) or text in any form a definition accepts (``"90"``, ``"1m30s"``, ``"20 minutes"``).
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from maestro.definition.durations import parse_duration
from workers.runtimes.base import Outcome, RuntimeContext


class SleepRuntime:
    """Sleeps for the step's duration, unless cancelled first."""

    def run(self, ctx: RuntimeContext) -> Outcome:
        try:
            seconds = duration_seconds(ctx.settings.get("duration"))
        except ValueError as exc:
            return Outcome.fail(str(exc), permanent=True)
        if ctx.cancel.wait(seconds):
            return Outcome.fail("cancelled")
        return Outcome.ok()


def duration_seconds(value: Any, name: str = "sleep.duration") -> float:
    """``value`` (timedelta, seconds, or duration text) as a non-negative, finite number of
    seconds; ``name`` is the setting named in the error."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            seconds = parse_duration(value).total_seconds()
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    else:
        raise ValueError(f"{name} must be a duration, got {value!r}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{name} must be a finite duration >= 0, got {value!r}")
    return seconds
