"""What the run page says about how a run went: why it failed, in words a reader can act on
("transform failed; 2 steps not run because of it"), and whether there is anything to restart
from failed."""

from __future__ import annotations

import re
from collections.abc import Sequence

from maestro.reads import StepState
from maestro.states import STEP_FAILED, StepStatus
from maestro.wording import plural

#: the engine's summary of a failed run ("3 steps failed"), which counts the steps that did
#: not run because of a failure as failures of their own
_COUNT_ONLY = re.compile(r"^\d+ steps? failed$")
#: the statuses of a step that failed by itself (UPSTREAM_FAILED steps never ran)
_ROOTS = (StepStatus.FAILED, StepStatus.TIMED_OUT, StepStatus.STOPPED)
_VERBS = {
    StepStatus.FAILED: "failed",
    StepStatus.TIMED_OUT: "timed out",
    StepStatus.STOPPED: "was stopped",
}
_VERBS_MANY = {StepStatus.STOPPED: "were stopped"}
#: the most step names spelled out in one sentence
_NAMED = 3


def _names(ids: Sequence[str]) -> str:
    shown = list(ids[:_NAMED])
    if len(ids) > _NAMED:
        return ", ".join(shown) + f" and {len(ids) - _NAMED} more"
    if len(shown) == 1:
        return shown[0]
    return ", ".join(shown[:-1]) + " and " + shown[-1]


def why(error: str | None, steps: Sequence[StepState]) -> str | None:
    """The run's error, with the engine's bare count ("3 steps failed") replaced by which
    steps failed and how many did not run because of them."""
    if error is None or not _COUNT_ONLY.match(error):
        return error
    roots = [s for s in steps if s.status in _ROOTS]
    if not roots:
        return error
    parts = []
    for status in _ROOTS:
        ids = [s.step_id for s in roots if s.status is status]
        if ids:
            verb = _VERBS_MANY.get(status, _VERBS[status]) if len(ids) > 1 else _VERBS[status]
            parts.append(f"{_names(ids)} {verb}")
    blocked = sum(1 for s in steps if s.status is StepStatus.UPSTREAM_FAILED)
    if blocked:
        cause = "it" if len(roots) == 1 else "them"
        parts.append(f"{plural(blocked, 'step')} not run because of {cause}")
    return "; ".join(parts)


def has_failed(steps: Sequence[StepState]) -> bool:
    """Whether "restart from failed" has anything to rerun: a step that failed, timed out,
    was stopped or did not run because of one. A SKIPPED step is not a failure."""
    return any(s.status in STEP_FAILED for s in steps)
