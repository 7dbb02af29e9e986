"""Typed ids of the rows that cross module seams: a run, a step of a run, an attempt.

``NewType``s cost nothing at run time; mypy keeps a step-run id from being passed where an
attempt id is expected.
"""

from __future__ import annotations

from typing import NewType

RunId = NewType("RunId", int)
StepRunId = NewType("StepRunId", int)
AttemptId = NewType("AttemptId", int)
