"""How things read in messages: "1 problem", "3 problems" — never "problem(s)"; why a run
failed in words a reader can act on ("transform failed; 2 steps not run because of it")."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from maestro.states import StepStatus

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


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """``plural(1, "step")`` → ``"1 step"``; ``plural(2, "step")`` → ``"2 steps"``."""
    return f"{count} {noun if count == 1 else (plural_form or noun + 's')}"


def names(ids: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``, ``a, b, c and 2 more``."""
    shown = list(ids[:_NAMED])
    if len(ids) > _NAMED:
        return ", ".join(shown) + f" and {len(ids) - _NAMED} more"
    if len(shown) == 1:
        return shown[0]
    return ", ".join(shown[:-1]) + " and " + shown[-1]


def failure_summary(steps: Iterable[tuple[str, StepStatus]]) -> str | None:
    """Which steps failed and how many did not run because of them, from ``(step_id,
    status)`` pairs in definition order; None when no step failed by itself."""
    steps = list(steps)
    roots = [(sid, st) for sid, st in steps if st in _ROOTS]
    if not roots:
        return None
    parts = []
    for status in _ROOTS:
        ids = [sid for sid, st in roots if st is status]
        if ids:
            verb = _VERBS_MANY.get(status, _VERBS[status]) if len(ids) > 1 else _VERBS[status]
            parts.append(f"{names(ids)} {verb}")
    blocked = sum(1 for _, st in steps if st is StepStatus.UPSTREAM_FAILED)
    if blocked:
        cause = "it" if len(roots) == 1 else "them"
        parts.append(f"{plural(blocked, 'step')} not run because of {cause}")
    return "; ".join(parts)
