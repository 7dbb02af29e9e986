"""Signals, as senders and the scheduler see them: publishing one (recorded, then applied at
once, a repeated ``dedupe_key`` having no effect), the scheduler's passes over signals whose
publisher died before applying them, and waits whose timeout passed.

Signals are named events with a payload, published by API calls and by steps' ``emit``.
Recording and waiting: ``maestro.engine.signal_waits``; applying: ``maestro.engine.signal_apply``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from maestro.engine.advance import RunAdvance
from maestro.engine.alerting import SIGNAL_TIMEOUT
from maestro.engine.core import Engine
from maestro.engine.signal_waits import record
from maestro.states import StepStatus
from maestro.store import tables
from maestro.store.records import STEP_COLUMNS, StepRow, load_run

logger = logging.getLogger(__name__)
SIG, WAITS, S = tables.signals, tables.signal_waits, tables.step_runs


@dataclass
class Published:
    signal_id: int
    #: a signal with this dedupe_key existed: nothing more happened
    duplicate: bool = False
    runs_started: list[int] = field(default_factory=list)
    steps_released: list[int] = field(default_factory=list)


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
    runs, steps = eng.apply_signal(signal_id)
    return Published(signal_id, runs_started=runs, steps_released=steps)


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
        eng.apply_signal(signal_id)


def time_out_waits(eng: Engine, now: datetime, limit: int = 200) -> None:
    """Scheduler pass: steps whose signals did not arrive in time end TIMED_OUT."""
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
                    action=SIGNAL_TIMEOUT,
                )
        except Exception:
            logger.exception("could not time out a signal wait", extra={"step": step_run_id})
