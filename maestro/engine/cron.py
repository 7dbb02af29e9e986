"""Cron arithmetic (pure): a trigger's ticks in its local wall time, converted to UTC.

- a wall time that does not exist (spring forward) fires at the same wall time shifted by the
  jump — a 02:30 daily job runs once, at 03:30 local, on that day;
- a wall time that happens twice (fall back) fires once, at its first occurrence — except for
  expressions that fire in every hour (``*`` in the hour field), which follow real time like
  Vixie cron: an every-15-minutes job keeps firing every 15 minutes through the repeated hour.

``plan_firing`` decides which missed ticks one firing starts runs for (``catchup``).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError, croniter

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
