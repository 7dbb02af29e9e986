"""The filters expressions have besides Jinja's: dates for data pipelines (``ds``,
``ds_nodash``, ``ts``, ``add_days``, ``add_hours``, ``strftime``, ``to_date``) and real JSON
(``tojson``, ``fromjson``)."""

from __future__ import annotations

import json
from collections.abc import (
    Callable,
    Iterator,
    KeysView,
    Mapping,
    ValuesView,
)
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from jinja2 import Undefined

from maestro.expression_limits import _bounded_list, _estimate, _limit, _Refused

# --------------------------------------------------------------------------------------------
# Our filters
# --------------------------------------------------------------------------------------------


def _defined(value: Any) -> Any:
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    return value


def _temporal(value: Any, filter_name: str) -> date:
    """A date or datetime from a date, datetime or ISO 8601 string (``…Z`` allowed)."""
    value = _defined(value)
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise _Refused(
            f"{filter_name}: expected a date, datetime or ISO string, got {type(value).__name__}"
        )
    text = value.strip()
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise _Refused(f"{filter_name}: {value!r} is not an ISO date or datetime") from None


def _as_datetime(value: date) -> datetime:
    return value if isinstance(value, datetime) else datetime.combine(value, time())


def _date_part(value: date) -> date:
    return value.date() if isinstance(value, datetime) else value


def _number(value: Any, filter_name: str) -> float:
    value = _defined(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Refused(f"{filter_name}: expected a number, got {type(value).__name__}")
    return value


def _ds(value: Any) -> str:
    """``YYYY-MM-DD`` (a datetime's date part)."""
    return _date_part(_temporal(value, "ds")).isoformat()


def _ds_nodash(value: Any) -> str:
    """``YYYYMMDD``."""
    return _date_part(_temporal(value, "ds_nodash")).strftime("%Y%m%d")


def _ts(value: Any) -> str:
    """ISO 8601 date and time (a date is taken at midnight)."""
    return _as_datetime(_temporal(value, "ts")).isoformat()


def _add_days(value: Any, n: Any) -> date:
    """``n`` days later: a date stays a date, a datetime a datetime."""
    moment = _temporal(value, "add_days")
    days = _number(n, "add_days")
    if not isinstance(moment, datetime) and days != int(days):
        raise _Refused("add_days: a date needs a whole number of days")
    return moment + timedelta(days=days)


def _add_hours(value: Any, n: Any) -> datetime:
    """``n`` hours later, as a datetime (a date is taken at midnight)."""
    return _as_datetime(_temporal(value, "add_hours")) + timedelta(hours=_number(n, "add_hours"))


def _strftime(value: Any, fmt: Any) -> str:
    if not isinstance(fmt, str):
        raise _Refused(f"strftime: the format must be a string, got {type(fmt).__name__}")
    return _temporal(value, "strftime").strftime(fmt)


def _to_date(value: Any) -> date:
    return _date_part(_temporal(value, "to_date"))


def _tojson(value: Any, indent: int | None = None) -> str:
    """Real JSON (not HTML-escaped like Jinja's own ``tojson``); dates as ISO strings."""
    _limit(_estimate(value), "the value given to tojson")
    return json.dumps(
        value, default=_json_default, ensure_ascii=False, allow_nan=False, indent=indent
    )


def _json_default(value: Any) -> Any:
    _defined(value)
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        integral = value.is_finite() and value == value.to_integral_value()
        return int(value) if integral else float(value)
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, set | frozenset | range | Iterator | KeysView | ValuesView):
        return _bounded_list(value, "the value given to tojson")
    raise _Refused(f"tojson: a {type(value).__name__} value cannot be written as JSON")


def _fromjson(value: Any) -> Any:
    value = _defined(value)
    if isinstance(value, bytes | bytearray):
        value = value.decode()
    if not isinstance(value, str):
        raise _Refused(f"fromjson: expected a JSON string, got {type(value).__name__}")
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise _Refused(f"fromjson: invalid JSON ({exc})") from None


_OUR_FILTERS: dict[str, Callable[..., Any]] = {
    "ds": _ds,
    "ds_nodash": _ds_nodash,
    "ts": _ts,
    "add_days": _add_days,
    "add_hours": _add_hours,
    "strftime": _strftime,
    "to_date": _to_date,
    "tojson": _tojson,
    "fromjson": _fromjson,
}
