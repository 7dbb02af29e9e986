"""Durations: the compact forms users write, their normalized text, and the pydantic type."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import BaseModel

from maestro.definition import format_duration, parse_duration
from maestro.definition.durations import MAX_DURATION, Duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1d2h", timedelta(days=1, hours=2)),
        ("500ms", timedelta(milliseconds=500)),
        ("1m500ms", timedelta(minutes=1, milliseconds=500)),
        ("1.5h", timedelta(hours=1, minutes=30)),
        ("1h 30m", timedelta(hours=1, minutes=30)),
        (" 45s ", timedelta(seconds=45)),
        ("0s", timedelta(0)),
        ("90", timedelta(seconds=90)),
        ("2.5", timedelta(seconds=2.5)),
        ("1d2h3m4s5ms6us", timedelta(days=1, hours=2, minutes=3, seconds=4, microseconds=5006)),
        (30, timedelta(seconds=30)),
        (0, timedelta(0)),
        (1.5, timedelta(seconds=1.5)),
        (timedelta(minutes=3), timedelta(minutes=3)),
    ],
)
def test_parse_duration_accepts_compact_forms_and_seconds(
    text: str | int | float | timedelta, expected: timedelta
) -> None:
    assert parse_duration(text) == expected


def test_invalid_duration_message_tells_the_user_what_to_write() -> None:
    with pytest.raises(ValueError) as info:
        parse_duration("5x")
    assert str(info.value) == (
        "invalid duration '5x': use a number with units s, m, h, d such as 30s or 1h30m, "
        "or spelled: '20 minutes', '1 hour 30 minutes'"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20 minutes", timedelta(minutes=20)),
        ("1 minute", timedelta(minutes=1)),
        ("1 hour 30 minutes", timedelta(hours=1, minutes=30)),
        ("2 Hours", timedelta(hours=2)),
        ("1 day, 2 hours and 5 seconds", timedelta(days=1, hours=2, seconds=5)),
        ("1 day, 2 hours, and 5 seconds", timedelta(days=1, hours=2, seconds=5)),
        ("1.5 hours", timedelta(hours=1, minutes=30)),
        ("5min", timedelta(minutes=5)),
        ("3 hrs 10 secs", timedelta(hours=3, seconds=10)),
        ("250 milliseconds", timedelta(milliseconds=250)),
    ],
)
def test_maestro_spelled_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "bad",
    ["minutes", "30 minutes 1 hour", "1 hour 2 hours", "5 fortnights", "1 minutesx", "-5 minutes"],
)
def test_malformed_spelled_durations_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(bad)


@pytest.mark.parametrize(
    "bad", ["", " ", "5x", "m", "h1", "1m1h", "1h1h", "5mss", "1e3s", "abc", "1h-5m", "1" * 70]
)
def test_garbage_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(bad)


@pytest.mark.parametrize("bad", ["-5s", "-1h30m", "-5", -1, -0.5, timedelta(seconds=-1)])
def test_negative_durations_are_refused(bad: str | int | float | timedelta) -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        parse_duration(bad)


@pytest.mark.parametrize("bad", [True, False, float("nan"), float("inf"), None, [1], {"s": 1}])
def test_values_that_are_not_durations_are_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(bad)  # type: ignore[arg-type]  # deliberately wrong types


@pytest.mark.parametrize("bad", ["999999999999d", 10**30, 1e300])
def test_overflow_is_a_value_error(bad: str | int | float) -> None:
    with pytest.raises(ValueError, match="too large"):
        parse_duration(bad)


@pytest.mark.parametrize("bad", ["999999999d", "36500d1s", 36_500 * 86_400 + 1, "100000 days"])
def test_a_duration_that_would_not_fit_in_a_date_from_now_is_too_large(bad: str | int) -> None:
    """A timedelta holds 999999999 days; a date from now does not (a run that reached such a
    timeout crashed with OverflowError and stayed RUNNING)."""
    with pytest.raises(ValueError, match=r"too large \(at most 36500d\)"):
        parse_duration(bad)
    assert parse_duration("36500d") == MAX_DURATION
    assert datetime(2026, 11, 29, tzinfo=UTC) + MAX_DURATION < datetime.max.replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("td", "text"),
    [
        (timedelta(0), "0s"),
        (timedelta(seconds=30), "30s"),
        (timedelta(minutes=90), "1h30m"),
        (timedelta(days=10), "10d"),
        (timedelta(milliseconds=500), "500ms"),
        (timedelta(days=1, hours=2), "1d2h"),
        (timedelta(seconds=1, microseconds=7), "1s7us"),
        (timedelta(seconds=-30), "-30s"),
    ],
)
def test_format_duration_is_compact(td: timedelta, text: str) -> None:
    assert format_duration(td) == text


@pytest.mark.parametrize("text", ["30s", "1h30m", "1d2h3m4s5ms6us", "10000d1us", "1.25h", "7"])
def test_format_then_parse_round_trips(text: str) -> None:
    td = parse_duration(text)
    assert parse_duration(format_duration(td)) == td


class _Holder(BaseModel):
    d: Duration


def test_duration_type_validates_and_serializes_compactly_in_json_mode() -> None:
    holder = _Holder.model_validate({"d": "1h30m"})
    assert holder.d == timedelta(hours=1, minutes=30)
    assert holder.model_dump() == {"d": timedelta(hours=1, minutes=30)}
    assert holder.model_dump(mode="json") == {"d": "1h30m"}
    assert holder.model_dump_json() == '{"d":"1h30m"}'


def test_duration_type_reports_the_user_message() -> None:
    with pytest.raises(ValueError, match=r"invalid duration '5x': use a number with units"):
        _Holder.model_validate({"d": "5x"})
