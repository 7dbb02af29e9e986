"""The ``sleep`` step type: waits ``sleep.duration``, then succeeds.

The wait is ``ctx.cancel.wait(...)`` rather than ``time.sleep`` so that stopping the step (stop
action, timeout, lost ownership) ends it at once instead of after the full duration.

``duration`` is normally a ``timedelta`` (the definition parser turns ``30s`` into one), but
plain seconds (an int or float, or a string holding a number, as a template may render) are
accepted too.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

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


def duration_seconds(value: Any) -> float:
    """``value`` (timedelta or seconds) as a non-negative, finite number of seconds."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float | str) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except ValueError:
            raise ValueError(f"sleep.duration must be a duration, got {value!r}") from None
    else:
        raise ValueError(f"sleep.duration must be a duration, got {value!r}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"sleep.duration must be a finite duration >= 0, got {value!r}")
    return seconds
