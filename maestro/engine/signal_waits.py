"""Signal waits and emits, inside a run's unit of work: recording a signal, registering a
step's ``wait_for`` (satisfied at once by signals already there), and a step's ``emit``.

Which signals satisfy a wait: one with the wait's name whose payload has every field of the
wait's ``match`` with an equal value, created at or after the run started (the step's
lifetime window: a signal that arrived before the wait was registered counts, one from
before the run does not). Each wait takes the earliest such signal. Applying a signal once
recorded (releasing waits, starting triggered runs) is ``maestro.engine.signal_apply``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

from maestro import expressions
from maestro.definition import Step
from maestro.definition.json_values import json_problem
from maestro.engine.matching import payload_matches
from maestro.errors import ExpressionError, InvalidRequest
from maestro.states import StepStatus, WaitingFor
from maestro.store import signals as signal_rows
from maestro.store import tables
from maestro.store.records import RunRow, StepRow
from maestro.store.transitions import transition
from maestro.store.unit import Unit

logger = logging.getLogger(__name__)
SIG, WAITS = tables.signals, tables.signal_waits
WAITING_FOR_SIGNALS = WaitingFor.signals


def matches(match: dict[str, Any], payload: dict[str, Any]) -> bool:
    """The payload fits the wait's ``match`` (``maestro.engine.matching``)."""
    return payload_matches(match, payload)


def record(
    u: Unit,
    name: str,
    payload: dict[str, Any],
    dedupe_key: str | None,
    sender_owners: Sequence[str] | None = None,
) -> int | None:
    """Insert the signal; ``None`` if its dedupe_key was seen before. Applied after commit.
    ``sender_owners``: the owners the sender acts for (None: every owner). A payload nested
    too deep, too wide or with a non-finite number is refused (``InvalidRequest``), not
    stored for every later read of it to fail."""
    problem = json_problem(payload, ("payload",))
    if problem is not None:
        raise InvalidRequest(f"signal {name!r}: {problem}")
    if dedupe_key is not None:
        seen = u.conn.execute(select(SIG.c.id).where(SIG.c.dedupe_key == dedupe_key)).scalar()
        if seen is not None:
            return None
    signal_id = signal_rows.insert_signal(
        u.conn,
        name=name,
        payload=payload,
        dedupe_key=dedupe_key,
        created_at=u.now,
        created_by=u.actor,
        sender_owners=sender_owners,
    )
    u.signals.append(signal_id)
    return signal_id


class MatchRenderError(Exception):
    """A ``wait_for`` match's template could not be rendered; the message names the field."""


def render_matches(spec: Step, context: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each ``wait_for`` match with its templates rendered in the run's scope (what is stored
    and shown); raises MatchRenderError naming ``wait_for[i].match``."""
    rendered = []
    for position, wait in enumerate(spec.wait_for):
        try:
            match = expressions.render(dict(wait.match), dict(context))
        except ExpressionError as exc:
            raise MatchRenderError(f"wait_for[{position}].match: {exc}") from exc
        rendered.append(match if isinstance(match, dict) else dict(wait.match))
    return rendered


def register_waits(
    u: Unit,
    run: RunRow,
    step: StepRow,
    spec: Step,
    matches_rendered: Sequence[dict[str, Any]] | None = None,
) -> bool:
    """Record the step's ``wait_for`` and satisfy each from signals already there; True when
    every wait is satisfied (the step may go on at once). ``matches_rendered``: the matches
    with their templates rendered (``render_matches``); the written ones when None."""
    since = run.started_at or run.created_at
    satisfied = True
    for position, wait in enumerate(spec.wait_for):
        match = (
            dict(matches_rendered[position]) if matches_rendered is not None else dict(wait.match)
        )
        signal_id = _earliest_match(u, wait.signal, match, since)
        deadline = u.now + wait.timeout if wait.timeout and signal_id is None else None
        signal_rows.insert_wait(
            u.conn,
            step_run_id=step.id,
            run_id=run.id,
            position=position,
            signal_name=wait.signal,
            match=match,
            since=since,
            deadline=deadline,
            signal_id=signal_id,
        )
        satisfied = satisfied and signal_id is not None
    if not satisfied:
        transition(
            u,
            "step",
            step.id,
            StepStatus.WAITING,
            StepStatus.PENDING,
            run_id=run.id,
            values={"waiting_for": WAITING_FOR_SIGNALS},
        )
        if any(w.timeout for w in spec.wait_for):
            u.wake_scheduler = True  # a new deadline
    return satisfied


def _earliest_match(u: Unit, name: str, match: dict[str, Any], since: datetime) -> int | None:
    rows = u.conn.execute(
        select(SIG.c.id, SIG.c.payload)
        .where(SIG.c.name == name, SIG.c.created_at >= since)
        .order_by(SIG.c.id)
    )
    for signal_id, payload in rows:
        if matches(match, payload or {}):
            return int(signal_id)
    return None


# -- emitting ---------------------------------------------------------------------------------


def emit(u: Unit, run_id: int, owner: str, context: Mapping[str, Any], spec: Step) -> None:
    """A step of a workflow of ``owner`` succeeded: record the signals it emits (applied
    after commit)."""
    for item in spec.emit:
        try:
            payload = expressions.render(dict(item.payload), dict(context))
            problem = json_problem(payload, ("payload",))
            if problem is not None:  # what a client's signal is refused for (``record``)
                raise InvalidRequest(problem)
        except (ExpressionError, InvalidRequest) as exc:
            logger.warning("emit of %r skipped: %s", item.signal, exc)
            u.add_event(
                run_id=run_id,
                entity="step",
                action="emit",
                message=f"signal {item.signal!r} not emitted: {exc}",
            )
            continue
        signal_id = record(
            u,
            item.signal,
            payload if isinstance(payload, dict) else {},
            None,
            sender_owners=[owner],  # it acts for its workflow
        )
        u.add_event(
            run_id=run_id,
            entity="step",
            action="emit",
            message=f"signal {item.signal!r} emitted (id {signal_id})",
        )
