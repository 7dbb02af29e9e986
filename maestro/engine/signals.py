"""Signals: named events with a payload, published by API calls and by steps' ``emit``.

A signal is recorded first (one row, deduplicated by ``dedupe_key``) and its consequences —
steps whose ``wait_for`` it satisfies are released, workflows with a matching signal
trigger start runs — are applied next, in a unit of work of their own that marks the row
processed. The row is the outbox: if a process dies in between, the scheduler applies the
consequences of unprocessed signals on its next pass.

Which signals satisfy a wait: one with the wait's name whose payload has every field of the
wait's ``match`` with an equal value, created at or after the run started (the step's
lifetime window: a signal that arrived before the wait was registered counts, one from
before the run does not). Each wait takes the earliest such signal.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from maestro import expressions
from maestro.definition import Step
from maestro.engine.records import STEP_COLUMNS, StepRow, load_run
from maestro.errors import ExpressionError
from maestro.states import RUN_ACTIVE, StepStatus, WaitingFor
from maestro.store import tables
from maestro.store.tables import status_is
from maestro.store.transitions import transition
from maestro.store.unit import Unit

if TYPE_CHECKING:
    from maestro.engine.advance import RunAdvance
    from maestro.engine.core import Engine

logger = logging.getLogger(__name__)
SIG, WAITS, S = tables.signals, tables.signal_waits, tables.step_runs
WAITING_FOR_SIGNALS = WaitingFor.signals


@dataclass
class Published:
    signal_id: int
    #: a signal with this dedupe_key existed: nothing more happened
    duplicate: bool = False
    runs_started: list[int] = field(default_factory=list)
    steps_released: list[int] = field(default_factory=list)


def matches(match: dict[str, Any], payload: dict[str, Any]) -> bool:
    return all(key in payload and payload[key] == value for key, value in match.items())


# -- publishing -------------------------------------------------------------------------------


def record(
    u: Unit,
    name: str,
    payload: dict[str, Any],
    dedupe_key: str | None,
    sender_owners: Sequence[str] | None = None,
) -> int | None:
    """Insert the signal; ``None`` if its dedupe_key was seen before. Applied after commit.
    ``sender_owners``: the owners the sender acts for (None: every owner)."""
    if dedupe_key is not None:
        seen = u.conn.execute(select(SIG.c.id).where(SIG.c.dedupe_key == dedupe_key)).scalar()
        if seen is not None:
            return None
    signal_id: int = u.conn.execute(
        insert(SIG)
        .values(
            name=name,
            payload=payload,
            dedupe_key=dedupe_key,
            created_at=u.now,
            created_by=u.actor,
            sender_owners=None if sender_owners is None else list(sender_owners),
        )
        .returning(SIG.c.id)
    ).scalar_one()
    u.signals.append(signal_id)
    return signal_id


def publish(
    eng: Engine,
    name: str,
    payload: dict[str, Any],
    *,
    dedupe_key: str | None = None,
    actor: str = "system",
    sender_owners: Sequence[str] | None = None,
) -> Published:
    """Record a signal and apply its consequences; a repeated dedupe_key has no effect.
    ``actor`` and ``sender_owners``: who sends it, and the owners it acts for (None: all)."""
    try:
        with eng.unit(actor=actor) as u:
            signal_id = record(u, name, payload, dedupe_key, sender_owners)
            u.signals.clear()  # applied below, in this call, to report what happened
    except IntegrityError:  # the same dedupe_key raced in from elsewhere
        signal_id = None
    if signal_id is None:
        with eng.db.read() as conn:
            seen = conn.execute(select(SIG.c.id).where(SIG.c.dedupe_key == dedupe_key)).scalar()
        return Published(int(seen or 0), duplicate=True)
    runs, steps = process(eng, signal_id)
    return Published(signal_id, runs_started=runs, steps_released=steps)


def process(eng: Engine, signal_id: int) -> tuple[list[int], list[int]]:
    """Apply a recorded signal once: release the waits it satisfies, start triggered runs."""
    with eng.unit() as u:
        row = u.conn.execute(
            select(SIG)
            .where(SIG.c.id == signal_id, SIG.c.processed_at.is_(None))
            .with_for_update(skip_locked=True)
        ).first()
        if row is None:
            return [], []
        u.actor = row.created_by or u.actor  # what the signal does, its sender did
        u.conn.execute(update(SIG).where(SIG.c.id == signal_id).values(processed_at=u.now))
        steps = _release_waits(u, eng, signal_id, row.name, row.payload, row.created_at)
        runs = _start_triggered_runs(u, eng, signal_id, row.name, row.payload, row.sender_owners)
        return runs, steps


def process_pending(eng: Engine, limit: int = 200) -> None:
    """Scheduler pass: signals recorded but not applied (their publisher died)."""
    with eng.db.read() as conn:
        ids = (
            conn.execute(
                select(SIG.c.id).where(SIG.c.processed_at.is_(None)).order_by(SIG.c.id).limit(limit)
            )
            .scalars()
            .all()
        )
    for signal_id in ids:
        process(eng, signal_id)


def _start_triggered_runs(
    u: Unit,
    eng: Engine,
    signal_id: int,
    name: str,
    payload: dict[str, Any],
    sender_owners: Sequence[str] | None,
) -> list[int]:
    try:
        triggers = importlib.import_module("maestro.engine.triggers")
    except ImportError:  # signal triggers are not part of this build
        return []
    start = getattr(triggers, "start_runs_for_signal", None)
    if start is None:
        return []
    return list(start(u, eng, signal_id, name, payload, sender_owners))


# -- waiting ----------------------------------------------------------------------------------


def register_waits(advance: RunAdvance, step: StepRow, spec: Step) -> bool:
    """Record the step's ``wait_for`` and satisfy each from signals already there; True when
    every wait is satisfied (the step may go on at once)."""
    u, run = advance.u, advance.run
    since = run.started_at or run.created_at
    satisfied = True
    for position, wait in enumerate(spec.wait_for):
        signal_id = _earliest_match(u, wait.signal, dict(wait.match), since)
        deadline = u.now + wait.timeout if wait.timeout and signal_id is None else None
        u.conn.execute(
            insert(WAITS).values(
                step_run_id=step.id,
                run_id=run.id,
                position=position,
                signal_name=wait.signal,
                match=dict(wait.match),
                since=since,
                deadline=deadline,
                signal_id=signal_id,
            )
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


def _release_waits(
    u: Unit, eng: Engine, signal_id: int, name: str, payload: dict[str, Any], at: datetime
) -> list[int]:
    open_waits = u.conn.execute(
        select(WAITS.c.id, WAITS.c.step_run_id, WAITS.c.match, WAITS.c.since).where(
            WAITS.c.signal_name == name, WAITS.c.signal_id.is_(None)
        )
    ).all()
    touched: set[int] = set()
    for wait_id, step_run_id, match, since in open_waits:
        if since <= at and matches(match or {}, payload or {}):
            u.conn.execute(
                update(WAITS)
                .where(WAITS.c.id == wait_id, WAITS.c.signal_id.is_(None))
                .values(signal_id=signal_id)
            )
            touched.add(step_run_id)
    return [sid for sid in sorted(touched) if _release_if_done(u, eng, sid)]


def _release_if_done(u: Unit, eng: Engine, step_run_id: int) -> bool:
    from maestro.engine.advance import RunAdvance

    still_open = u.conn.execute(
        select(WAITS.c.id).where(WAITS.c.step_run_id == step_run_id, WAITS.c.signal_id.is_(None))
    ).first()
    if still_open is not None:
        return False
    row = u.conn.execute(
        select(*STEP_COLUMNS).where(
            S.c.id == step_run_id,
            status_is(S.c.status, StepStatus.WAITING),
            S.c.waiting_for == WAITING_FOR_SIGNALS,
        )
    ).first()
    if row is None:
        return False
    step = StepRow.of(row)
    run = load_run(u.conn, step.run_id)
    if run.status not in RUN_ACTIVE:
        return False
    compiled = eng.versions.for_run(u.conn, run.workflow_id, run.version, run.body)
    RunAdvance(u, run, compiled).queue(step, StepStatus.WAITING)
    return True


def time_out_waits(eng: Engine, now: datetime, limit: int = 200) -> None:
    """Scheduler pass: steps whose signals did not arrive in time end TIMED_OUT."""
    from maestro.engine.advance import RunAdvance

    with eng.db.read() as conn:
        due = conn.execute(
            select(WAITS.c.step_run_id, WAITS.c.signal_name)
            .where(WAITS.c.signal_id.is_(None), WAITS.c.deadline <= now)
            .order_by(WAITS.c.deadline)
            .limit(limit)
        ).all()
    for step_run_id, name in due:
        try:
            with eng.unit() as u:
                row = u.conn.execute(select(*STEP_COLUMNS).where(S.c.id == step_run_id)).first()
                if row is None or row.step_status != StepStatus.WAITING.value:
                    continue
                step = StepRow.of(row)
                run = load_run(u.conn, step.run_id)
                compiled = eng.versions.for_run(u.conn, run.workflow_id, run.version, run.body)
                RunAdvance(u, run, compiled).fail(
                    step,
                    StepStatus.WAITING,
                    StepStatus.TIMED_OUT,
                    f"signal {name!r} did not arrive before the wait's timeout",
                )
        except Exception:
            logger.exception("could not time out a signal wait", extra={"step": step_run_id})


# -- emitting ---------------------------------------------------------------------------------


def emit(advance: RunAdvance, spec: Step) -> None:
    """A step succeeded: record the signals it emits (applied after commit)."""
    for item in spec.emit:
        try:
            payload = expressions.render(dict(item.payload), advance.context)
        except ExpressionError as exc:
            logger.warning("emit of %r skipped: %s", item.signal, exc)
            advance.u.add_event(
                run_id=advance.run.id,
                entity="step",
                action="emit",
                message=f"signal {item.signal!r} not emitted: {exc}",
            )
            continue
        signal_id = record(
            advance.u,
            item.signal,
            payload if isinstance(payload, dict) else {},
            None,
            sender_owners=[advance.compiled.definition.owner],  # it acts for its workflow
        )
        advance.u.add_event(
            run_id=advance.run.id,
            entity="step",
            action="emit",
            message=f"signal {item.signal!r} emitted (id {signal_id})",
        )
