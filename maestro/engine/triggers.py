"""Cron and signal triggers: when a workflow starts a run by itself.

The ``triggers`` rows mirror the *active* version's ``triggers`` list (``sync_triggers`` is
called whenever the active version changes). A cron row carries ``next_fire_at``, indexed
(``ix_triggers_due``); the scheduler calls ``fire_due`` on every pass.

Cron ticks are computed in the trigger's local wall time and converted to UTC (``CronSchedule``):

- a wall time that does not exist (spring forward) fires at the same wall time shifted by the
  jump — a 02:30 daily job runs once, at 03:30 local, on that day;
- a wall time that happens twice (fall back) fires once, at its first occurrence — except for
  expressions that fire in every hour (``*`` in the hour field), which follow real time like
  Vixie cron: an every-15-minutes job keeps firing every 15 minutes through the repeated hour.

Firing (``fire_due``), one unit of work per trigger: the workflow row is locked first (the
same order as every other writer of a workflow: submit, activation, run creation, admission),
then the trigger row is claimed with ``FOR UPDATE SKIP LOCKED`` and ``next_fire_at`` is moved
by a conditional UPDATE (``WHERE next_fire_at = <the value read>``), in the same transaction
that creates the runs: two schedulers never fire one tick twice. ``catchup: false`` fires only
the latest tick missed, ``catchup: true`` every missed tick, oldest first (at most
``MAX_TICKS_PER_FIRING`` per pass; the next pass continues). A paused workflow's ticks are
skipped: ``next_fire_at`` moves on and no run is created.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError, croniter
from sqlalchemy import Connection, delete, func, insert, literal_column, select, update
from sqlalchemy.sql import ColumnElement

from maestro import expressions
from maestro.definition import WorkflowDefinition
from maestro.definition.models import CronTrigger, SignalTrigger
from maestro.engine.admission import admit_workflow
from maestro.engine.core import Engine
from maestro.engine.runs import create_run
from maestro.errors import ExpressionError, ParamError
from maestro.store import tables
from maestro.store.unit import Unit

logger = logging.getLogger(__name__)
T, W, R = tables.triggers, tables.workflows, tables.runs

#: more than any daylight-saving jump: how far around a transition ticks may come out of order
DST_MARGIN = timedelta(hours=3)
#: ticks one pass fires for one catchup trigger; the rest are fired by the next passes
MAX_TICKS_PER_FIRING = 100
_EPSILON = timedelta(microseconds=1)
#: windows searched backwards for the latest missed tick (catchup: false), smallest first
_LOOKBACK = (
    timedelta(minutes=2),
    timedelta(hours=2),
    timedelta(days=2),
    timedelta(days=40),
    timedelta(days=400),
)
#: inlined, not bound: the planners then match ix_triggers_due
_CRON: ColumnElement[str] = literal_column("'cron'")
_SIGNAL: ColumnElement[str] = literal_column("'signal'")


# -- cron arithmetic (pure) ----------------------------------------------------------------


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@lru_cache(maxsize=1024)
def _fires_every_hour(expression: str) -> bool:
    return bool(croniter(expression).expanded[1] == ["*"])


def _wall(moment: datetime, zone: ZoneInfo) -> datetime:
    """The naive local wall time of an aware ``moment``."""
    return moment.astimezone(zone).replace(tzinfo=None)


def _margin(zone: ZoneInfo, moment: datetime) -> timedelta:
    """``DST_MARGIN`` when the zone's offset changes near ``moment``, else nothing to look
    around for (ticks come out of wall-clock iteration already in order)."""
    around = (moment - DST_MARGIN, moment, moment + DST_MARGIN)
    offsets = {m.astimezone(zone).utcoffset() for m in around}
    return DST_MARGIN if len(offsets) > 1 else timedelta(0)


def _instants(wall: datetime, zone: ZoneInfo, every_hour: bool) -> tuple[datetime, ...]:
    """The UTC instants a matching local wall time fires at (see the module docstring)."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if not every_hour:
        return (first,)
    second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    return (first, second) if second > first else (first,)


@dataclass(frozen=True)
class CronSchedule:
    """A cron expression in an IANA time zone; every method takes and returns aware UTC."""

    expression: str
    timezone: str = "UTC"

    def ticks_after(self, after: datetime) -> Iterator[datetime]:
        """Every tick strictly after ``after``, in order (ends if the expression never
        matches again, e.g. February 30th)."""
        zone = _zone(self.timezone)
        every_hour = _fires_every_hour(self.expression)
        it = croniter(self.expression, _wall(after, zone) - _margin(zone, after))
        pending: list[datetime] = []
        last: datetime | None = None
        while True:
            try:
                wall = it.get_next(datetime)
                instants = _instants(wall, zone, every_hour)
            except (CroniterBadDateError, OverflowError, ValueError):
                # no next match, or it lies past year 9999 (croniter: ValueError "year 10000 is
                # out of range"; to UTC: OverflowError): the calendar ends, and so do the ticks
                break
            for instant in instants:
                if instant > after:
                    heapq.heappush(pending, instant)
            floor = min(instants) - _margin(zone, min(instants))
            while pending and pending[0] <= floor:
                tick = heapq.heappop(pending)
                if last is None or tick > last:
                    last = tick
                    yield tick
        for tick in sorted(pending):
            if last is None or tick > last:
                last = tick
                yield tick

    def next_after(self, after: datetime) -> datetime | None:
        return next(self.ticks_after(after), None)

    def between(self, after: datetime, until: datetime, limit: int | None = None) -> list[datetime]:
        """Ticks ``t`` with ``after < t <= until``, oldest first, at most ``limit``."""
        ticks: list[datetime] = []
        for tick in self.ticks_after(after):
            if tick > until or (limit is not None and len(ticks) >= limit):
                break
            ticks.append(tick)
        return ticks

    def in_range(self, start: datetime, end: datetime, limit: int | None = None) -> list[datetime]:
        """Ticks in ``[start, end]``, both ends included (backfills)."""
        return self.between(start - _EPSILON, end, limit)

    def latest_between(self, not_before: datetime, until: datetime) -> datetime | None:
        """The latest tick in ``[not_before, until]``, searching backwards from ``until`` in
        growing windows (a long downtime of a per-minute job costs a few ticks, not all)."""
        for window in (*_LOOKBACK, until - not_before + _EPSILON):
            ticks = self.between(max(until - window, not_before - _EPSILON), until)
            if ticks:
                return ticks[-1]
        return None


@dataclass(frozen=True)
class FirePlan:
    """What one pass does with a due cron trigger."""

    ticks: tuple[datetime, ...]
    next_fire_at: datetime | None


def plan_firing(
    schedule: CronSchedule,
    *,
    catchup: bool,
    due_at: datetime,
    now: datetime,
    paused: bool = False,
    limit: int = MAX_TICKS_PER_FIRING,
) -> FirePlan:
    """The ticks to fire now for a trigger due at ``due_at`` (a tick ``<= now``) and when it
    is due next. Paused: nothing fires and the next tick after ``now`` is due next."""
    if paused:
        return FirePlan((), schedule.next_after(now))
    if not catchup:
        latest = schedule.latest_between(due_at, now)
        return FirePlan((latest,) if latest else (), schedule.next_after(now))
    ticks = schedule.between(due_at - _EPSILON, now, limit)
    if not ticks:
        return FirePlan((), schedule.next_after(now))
    return FirePlan(tuple(ticks), schedule.next_after(ticks[-1]))


def cron_schedule(spec: Mapping[str, Any]) -> CronSchedule:
    """The schedule of a stored cron trigger spec."""
    return CronSchedule(str(spec["cron"]), str(spec.get("timezone") or "UTC"))


# -- keeping the rows in step with the active version -----------------------------------------


def sync_triggers(u: Unit, workflow_id: str, definition: WorkflowDefinition) -> None:
    """Make the workflow's ``triggers`` rows those of ``definition`` (its new active version).

    The caller holds the workflow row's lock. A cron trigger whose expression and time zone
    were already there keeps its ``next_fire_at`` (activating a version with the same
    schedule neither skips nor repeats a tick); a new one is due at its next tick after now.
    """
    kept = {
        (r.spec.get("cron"), r.spec.get("timezone")): (r.next_fire_at, r.last_fired_at)
        for r in u.conn.execute(
            select(T.c.spec, T.c.next_fire_at, T.c.last_fired_at)
            .where(T.c.workflow_id == workflow_id)
            .with_for_update()
        )
        if r.spec.get("cron")
    }
    u.conn.execute(delete(T).where(T.c.workflow_id == workflow_id))
    rows = []
    for position, trigger in enumerate(definition.triggers):
        spec = trigger.model_dump(mode="json")
        next_fire_at = last_fired_at = None
        if isinstance(trigger, CronTrigger):
            key = (trigger.cron, trigger.timezone)
            schedule = CronSchedule(trigger.cron, trigger.timezone)
            next_fire_at, last_fired_at = kept.get(key) or (schedule.next_after(u.now), None)
        kind = "cron" if isinstance(trigger, CronTrigger) else "signal"
        rows.append(
            {
                "workflow_id": workflow_id,
                "position": position,
                "kind": kind,
                "spec": spec,
                "next_fire_at": next_fire_at,
                "last_fired_at": last_fired_at,
            }
        )
    if rows:
        u.conn.execute(insert(T), rows)
        u.wake_scheduler = True  # a new timer


def reschedule_cron(u: Unit, workflow_id: str) -> None:
    """Every cron trigger of the workflow is next due at its first tick after now (resume:
    the ticks that fell while the workflow was paused are skipped, catchup or not)."""
    rows = u.conn.execute(
        select(T.c.id, T.c.spec).where(T.c.workflow_id == workflow_id, T.c.kind == _CRON)
    ).all()
    for row in rows:
        next_fire_at = cron_schedule(row.spec).next_after(u.now)
        u.conn.execute(update(T).where(T.c.id == row.id).values(next_fire_at=next_fire_at))
    if rows:
        u.wake_scheduler = True


def earliest_fire_at(conn: Connection) -> datetime | None:
    """When the next cron trigger is due (the scheduler sleeps no longer than that)."""
    value = conn.execute(select(func.min(T.c.next_fire_at)).where(T.c.kind == _CRON)).scalar()
    return value if isinstance(value, datetime) else None


# -- cron firing ------------------------------------------------------------------------------


def fire_due(eng: Engine, now: datetime | None = None, limit: int | None = None) -> list[int]:
    """Fire every cron trigger due at ``now``, each in its own unit of work; returns the ids
    of the runs created. A trigger that cannot be fired is logged and skipped."""
    now = now or eng.clock.now()
    due = (
        select(T.c.id)
        .where(T.c.kind == _CRON, T.c.next_fire_at <= now)
        .order_by(T.c.next_fire_at)
        .limit(limit or eng.settings.batch_size)
    )
    with eng.db.read() as conn:
        trigger_ids = list(conn.execute(due).scalars())
    created: list[int] = []
    for trigger_id in trigger_ids:
        try:
            created.extend(_fire_one(eng, trigger_id, now))
        except Exception:
            logger.exception("could not fire cron trigger", extra={"trigger_id": trigger_id})
    return created


def _fire_one(eng: Engine, trigger_id: int, now: datetime) -> list[int]:
    with eng.unit(actor="cron") as u:
        workflow_id = u.conn.execute(select(T.c.workflow_id).where(T.c.id == trigger_id)).scalar()
        if workflow_id is None:
            return []
        wf = u.conn.execute(
            select(W.c.paused).where(W.c.id == workflow_id).with_for_update()
        ).first()
        row = u.conn.execute(
            select(T.c.spec, T.c.next_fire_at)
            .where(T.c.id == trigger_id, T.c.kind == _CRON, T.c.next_fire_at <= now)
            .with_for_update(skip_locked=True)
        ).first()
        if wf is None or row is None:
            return []  # fired by another scheduler meanwhile, or replaced by a new version
        trigger = CronTrigger.model_validate(row.spec)
        plan = plan_firing(
            cron_schedule(row.spec),
            catchup=trigger.catchup,
            due_at=row.next_fire_at,
            now=now,
            paused=wf.paused,
        )
        if not _advance(u, trigger_id, row.next_fire_at, plan):
            return []
        if wf.paused:
            logger.info("workflow %s is paused: cron tick skipped", workflow_id)
        created = [
            run_id
            for tick in plan.ticks
            if (run_id := _start_for_tick(u, eng, workflow_id, trigger, tick)) is not None
        ]
        if created:
            admit_workflow(u, eng, workflow_id)
        return created


def _advance(u: Unit, trigger_id: int, due_at: datetime, plan: FirePlan) -> bool:
    """Move ``next_fire_at`` on, only if nobody moved it since it was read."""
    values: dict[str, Any] = {"next_fire_at": plan.next_fire_at}
    if plan.ticks:
        values["last_fired_at"] = plan.ticks[-1]
    moved = u.conn.execute(
        update(T).where(T.c.id == trigger_id, T.c.next_fire_at == due_at).values(**values)
    ).rowcount
    return bool(moved == 1)


def _start_for_tick(
    u: Unit, eng: Engine, workflow_id: str, trigger: CronTrigger, tick: datetime
) -> int | None:
    try:
        params = render_trigger_params(u, workflow_id, trigger.params, "cron", tick)
        return create_run(
            u,
            eng.versions,
            workflow_id,
            trigger_params=params,
            trigger="cron",
            logical_date=tick,
        )
    except (ExpressionError, ParamError) as exc:
        logger.error("cron tick %s of %s starts no run: %s", tick, workflow_id, exc.message)
        return None


def render_trigger_params(
    u: Unit,
    workflow_id: str,
    params: Mapping[str, Any],
    trigger: str,
    logical_date: datetime,
    signal: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A trigger's ``params`` rendered with ``run`` (the run about to be created) and
    ``signal`` (the payload, or an empty map) in scope."""
    wf = u.conn.execute(
        select(W.c.active_version, W.c.run_counter).where(W.c.id == workflow_id)
    ).one()
    scope = {
        "run": {
            "id": None,
            "number": wf.run_counter + 1,
            "workflow_id": workflow_id,
            "version": wf.active_version,
            "trigger": trigger,
            "logical_date": logical_date,
            "started_at": u.now,
        },
        "params": {},
        "steps": {},
        "signal": dict(signal or {}),
    }
    rendered: dict[str, Any] = expressions.render(dict(params), scope)
    return rendered


# -- signal triggers --------------------------------------------------------------------------


def payload_matches(match: Mapping[str, Any], payload: Mapping[str, Any]) -> bool:
    """Every field of ``match`` is in the payload with an equal value (a boolean only equals
    a boolean: ``true`` does not match ``1``)."""
    return all(key in payload and _same(value, payload[key]) for key, value in match.items())


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def matching_triggers(
    rows: Sequence[tuple[str, Mapping[str, Any]]], name: str, payload: Mapping[str, Any]
) -> list[tuple[str, SignalTrigger]]:
    """The first signal trigger of each workflow (rows in position order) that ``name`` and
    ``payload`` fit: one signal starts at most one run per workflow."""
    chosen: dict[str, SignalTrigger] = {}
    for workflow_id, spec in rows:
        if workflow_id in chosen or spec.get("signal") != name:
            continue
        trigger = SignalTrigger.model_validate(spec)
        if payload_matches(trigger.match, payload):
            chosen[workflow_id] = trigger
    return list(chosen.items())


def may_trigger(sender_owners: Sequence[str] | None, owner: str, trigger: SignalTrigger) -> bool:
    """Whether a signal sent for ``sender_owners`` (None: every owner) may start a workflow of
    ``owner`` through ``trigger``: its own owner's signals, or those its ``from`` lists."""
    if sender_owners is None or owner in sender_owners or "*" in trigger.from_:
        return True
    return any(o in trigger.from_ for o in sender_owners)


def start_runs_for_signal(
    u: Unit,
    eng: Engine,
    signal_id: int,
    name: str,
    payload: Mapping[str, Any],
    sender_owners: Sequence[str] | None = None,
) -> list[int]:
    """Start a run of every workflow (not paused) whose active version has a signal trigger
    that this signal fits and that the sender may start (``may_trigger``); returns the run
    ids, in workflow id order.

    Exactly once per signal and workflow: the run carries the idempotency key
    ``signal:<signal_id>``, so applying the same signal again returns the same runs.
    A trigger whose params cannot be rendered from the payload is logged and starts nothing.
    """
    rows = u.conn.execute(
        select(T.c.workflow_id, T.c.spec, W.c.owner)
        .select_from(T.join(W, W.c.id == T.c.workflow_id))
        .where(T.c.kind == _SIGNAL, W.c.paused.is_(False))
        .order_by(T.c.workflow_id, T.c.position)
    ).all()
    owners = {r.workflow_id: r.owner for r in rows}
    key = f"signal:{signal_id}"
    started: list[int] = []
    for workflow_id, trigger in matching_triggers(
        [(r.workflow_id, r.spec) for r in rows], name, payload
    ):
        if not may_trigger(sender_owners, owners[workflow_id], trigger):
            logger.info(
                "signal %r from owners %s may not start workflow %r (owner %r): not in `from`",
                name,
                sender_owners,
                workflow_id,
                owners[workflow_id],
            )
            continue
        existing = u.conn.execute(
            select(R.c.id).where(R.c.workflow_id == workflow_id, R.c.idempotency_key == key)
        ).scalar()
        run_id = existing or _start_for_signal(u, eng, workflow_id, trigger, key, payload)
        if run_id is not None:
            started.append(run_id)
    return started


def _start_for_signal(
    u: Unit,
    eng: Engine,
    workflow_id: str,
    trigger: SignalTrigger,
    key: str,
    payload: Mapping[str, Any],
) -> int | None:
    try:
        params = render_trigger_params(u, workflow_id, trigger.params, "signal", u.now, payload)
        run_id = create_run(
            u,
            eng.versions,
            workflow_id,
            trigger_params=params,
            trigger="signal",
            idempotency_key=key,
            signal=payload,
        )
    except (ExpressionError, ParamError) as exc:
        logger.error("signal %r starts no run of %s: %s", trigger.signal, workflow_id, exc.message)
        return None
    admit_workflow(u, eng, workflow_id)
    return run_id
