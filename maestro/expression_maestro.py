"""Expression helpers for definitions imported from Netflix Maestro (and usable in any YAML).

- ``date_ints_between(a, b, step=1)``: the date ints (``20200101``) from ``a`` up to, not
  including, ``b``, every ``step`` days (Maestro's ``Util.dateIntsBetween``).
- ``ints_between(a, b, step=1)``: ``a``, ``a+step``, … below ``b`` (``Util.intsBetween``).
- ``date_int_hour_to_ts(date_int, hour, tz='UTC', day_offset=0, hour_offset=0)``: epoch
  milliseconds of that hour minus the day and hour offsets
  (``Util.dateIntHourToTs``).
- ``uuid4()``: a random UUID as text (``UUID.randomUUID()``).
- ``joda_datetime(millis)``: a date-time (UTC) with the Joda methods Maestro's samples use:
  ``withZone(tz)``, ``plusDays(n)``, ``minusDays(n)``, ``plusHours(n)``, ``minusHours(n)``,
  ``toString(pattern)``, ``monthOfYear().getAsText()``, ``getMillis()``.
- ``joda_format(pattern).parseDateTime(text)``: parse with a Joda pattern (``yyyyMMdd``...).
- ``maestro_builtin(name, run)``: Maestro's built-in date params from the run's logical date:
  ``TARGET_RUN_DATE``/``RUN_DATE``/``DERIVED_RUN_DATE_UTC`` (``20200101`` as int),
  ``TARGET_RUN_HOUR`` (0-23), ``RUN_TS`` (epoch milliseconds).
"""

from __future__ import annotations

import calendar
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

MAX_ITEMS = 100_000

_JODA = [
    ("yyyy", "%Y"),
    ("yy", "%y"),
    ("MMMM", "%B"),
    ("MMM", "%b"),
    ("MM", "%m"),
    ("dd", "%d"),
    ("HH", "%H"),
    ("mm", "%M"),
    ("ss", "%S"),
    ("EEE", "%a"),
]


def _pattern(joda: str) -> str:
    out, i = "", 0
    while i < len(joda):
        for src, dst in _JODA:
            if joda.startswith(src, i):
                out += dst
                i += len(src)
                break
        else:
            out += joda[i].replace("%", "%%")
            i += 1
    return out


def _to_date(value: int) -> date:
    return datetime.strptime(str(int(value)), "%Y%m%d").date()


def date_ints_between(start: int, end: int, step: int = 1) -> list[int]:
    """Date ints from ``start`` to ``end`` (excluded), every ``step`` days."""
    if step < 1:
        raise ValueError("date_ints_between: step must be at least 1")
    day, last, out = _to_date(start), _to_date(end), []
    while day < last:
        out.append(int(day.strftime("%Y%m%d")))
        if len(out) > MAX_ITEMS:
            raise ValueError(f"date_ints_between: more than {MAX_ITEMS} dates")
        day += timedelta(days=step)
    return out


def ints_between(start: int, end: int, step: int = 1) -> list[int]:
    """Ints from ``start`` to ``end`` (excluded), every ``step``."""
    if step == 0 or abs((end - start) // step) > MAX_ITEMS:
        raise ValueError("ints_between: a zero step or too many values")
    return list(range(start, end, step))


def date_int_hour_to_ts(
    date_int: int, hour: int, tz: str = "UTC", day_offset: int = 0, hour_offset: int = 0
) -> int:
    """Epoch milliseconds of ``hour`` o'clock on ``date_int`` in ``tz``, minus the offsets
    (as Maestro's ``Util.dateIntHourToTs``)."""
    day = _to_date(date_int)
    moment = datetime(day.year, day.month, day.day, int(hour), tzinfo=ZoneInfo(tz))
    moment -= timedelta(days=day_offset, hours=hour_offset)
    return int(moment.timestamp() * 1000)


def uuid4() -> str:
    """A random UUID as text."""
    return str(uuid.uuid4())


class _Month:
    def __init__(self, moment: datetime) -> None:
        self._m = moment

    def getAsText(self) -> str:
        return calendar.month_name[self._m.month]


class JodaDateTime:
    """The handful of Joda ``DateTime`` methods that Maestro definitions use."""

    def __init__(self, moment: datetime) -> None:
        self._m = moment

    def withZone(self, tz: str) -> JodaDateTime:
        return JodaDateTime(self._m.astimezone(ZoneInfo(tz)))

    def plusDays(self, n: int) -> JodaDateTime:
        return JodaDateTime(self._m + timedelta(days=n))

    def minusDays(self, n: int) -> JodaDateTime:
        return JodaDateTime(self._m - timedelta(days=n))

    def plusHours(self, n: int) -> JodaDateTime:
        return JodaDateTime(self._m + timedelta(hours=n))

    def minusHours(self, n: int) -> JodaDateTime:
        return JodaDateTime(self._m - timedelta(hours=n))

    def toString(self, pattern: str) -> str:
        return self._m.strftime(_pattern(pattern))

    def monthOfYear(self) -> _Month:
        return _Month(self._m)

    def getMillis(self) -> int:
        return int(self._m.timestamp() * 1000)

    def __str__(self) -> str:
        return self._m.isoformat()


class _JodaFormat:
    def __init__(self, pattern: str) -> None:
        self._p = _pattern(pattern)

    def parseDateTime(self, text: Any) -> JodaDateTime:
        return JodaDateTime(datetime.strptime(str(text), self._p).replace(tzinfo=UTC))


def joda_datetime(millis: int) -> JodaDateTime:
    """A UTC date-time from epoch milliseconds."""
    return JodaDateTime(datetime.fromtimestamp(millis / 1000, tz=UTC))


def joda_format(pattern: str) -> _JodaFormat:
    """A Joda pattern, to ``parseDateTime`` text with."""
    return _JodaFormat(pattern)


def maestro_builtin(name: str, run: Mapping[str, Any]) -> int:
    """One of Maestro's built-in date params, from the run's logical date."""
    moment = run["logical_date"]
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    moment = moment.astimezone(UTC)
    if name in ("TARGET_RUN_DATE", "RUN_DATE", "DERIVED_RUN_DATE_UTC"):
        return int(moment.strftime("%Y%m%d"))
    if name == "TARGET_RUN_HOUR":
        return int(moment.hour)
    if name == "RUN_TS":
        return int(moment.timestamp() * 1000)
    raise ValueError(f"maestro_builtin: unknown built-in {name!r}")


#: the helpers added to the expression scope
MAESTRO_GLOBALS = {
    "date_ints_between": date_ints_between,
    "ints_between": ints_between,
    "date_int_hour_to_ts": date_int_hour_to_ts,
    "uuid4": uuid4,
    "joda_datetime": joda_datetime,
    "joda_format": joda_format,
    "maestro_builtin": maestro_builtin,
}
