"""What the run page says about how a run went: why it failed, in words a reader can act on
("transform failed; 2 steps not run because of it"), and whether there is anything to restart
from failed."""

from __future__ import annotations

import re
from collections.abc import Sequence

from maestro.reads import StepSummary
from maestro.states import STEP_FAILED
from maestro.wording import failure_summary

#: the engine's summary of a failed run ("3 steps failed"), which counts the steps that did
#: not run because of a failure as failures of their own
_COUNT_ONLY = re.compile(r"^\d+ steps? failed$")


def why(error: str | None, steps: Sequence[StepSummary]) -> str | None:
    """The run's error; a run that ended before the engine named its failed steps says only
    "3 steps failed": that count is replaced by which steps failed and how many did not run
    because of them."""
    if error is None or not _COUNT_ONLY.match(error):
        return error
    return failure_summary((s.step_id, s.status) for s in steps) or error


def has_failed(steps: Sequence[StepSummary]) -> bool:
    """Whether "restart from failed" has anything to rerun: a step that failed, timed out,
    was stopped or did not run because of one. A SKIPPED step is not a failure."""
    return any(s.status in STEP_FAILED for s in steps)
