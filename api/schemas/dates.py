"""Instants the API accepts: converted to UTC where they come in, and refused with a 422
naming the field when they lie outside what the engine can compute with.

Python's ``datetime`` stops at 0001-01-01 and 9999-12-31 in *local* time: an offset at either
end (``9999-12-31T23:59:59-14:00``) overflows the moment it is converted to UTC, and the
engine also steps a little around the instants it is given (time-zone offsets of up to 14 h,
a DST margin of 3 h, a cron tick before or after). Without this type those requests answered
500 (``OverflowError``) from wherever the first conversion happened. Every datetime taken from
a request (query filters, ``logical_date``, backfill ranges) uses one of the two types here, so
the rule lives in one place.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BeforeValidator

#: a day inside both ends of ``datetime``'s range: room for every offset and margin added later
EARLIEST = datetime.min.replace(tzinfo=UTC) + timedelta(days=1)
LATEST = datetime.max.replace(tzinfo=UTC) - timedelta(days=1)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def to_utc(value: datetime) -> datetime:
    """``value`` in UTC (naive means UTC), or ValueError when it is out of range."""
    try:
        moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        moment = None
    if moment is None or not EARLIEST <= moment <= LATEST:
        raise ValueError(
            f"{value.isoformat()} is out of range: give an instant between "
            f"{_iso(EARLIEST)} and {_iso(LATEST)}"
        )
    return moment


_NUMBER = re.compile(r"\s*[-+]?(\d+(\.\d*)?|\.\d+)\s*")


def not_a_number(value: object) -> object:
    """Pydantic reads a number (or a numeric string) as Unix time: ``{"logical_date": 123}``
    started a run dated 1970-01-01T00:02:03Z. An instant here is written as one."""
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError(
            f"{value!r} is a number: give an ISO 8601 instant such as 2024-05-01T03:00:00Z"
        )
    return value


#: a request body's instant: an offset is required (``Z`` or ``+02:00``); comes out in UTC
UtcDatetime = Annotated[AwareDatetime, BeforeValidator(not_a_number), AfterValidator(to_utc)]
#: a query filter's instant: without an offset it is UTC; comes out in UTC
UtcDatetimeQuery = Annotated[datetime, BeforeValidator(not_a_number), AfterValidator(to_utc)]
