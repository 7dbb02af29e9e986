"""Durations as users write them (``30s``, ``1h30m``, ``500ms``) and back.

Definitions are written by hand, so durations take the compact unit form that Argo, Go and
Prometheus users already know; plain numbers are seconds. ``format_duration`` gives the same
compact form so that a normalized definition reads like the original and parses back to the
same value.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

_HINT = "use a number with units s, m, h, d such as 30s or 1h30m"

#: units in the order they must appear, with their length in microseconds
_UNITS: tuple[tuple[str, int], ...] = (
    ("d", 86_400_000_000),
    ("h", 3_600_000_000),
    ("m", 60_000_000),
    ("s", 1_000_000),
    ("ms", 1_000),
    ("us", 1),
)
_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"
_DURATION_RE = re.compile(
    "^"
    + "".join(rf"(?:{_NUMBER}{unit}{'(?!s)' if unit == 'm' else ''})?" for unit, _ in _UNITS)
    + "$"
)
_PLAIN_RE = re.compile(rf"^{_NUMBER}$")


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _invalid(value: object) -> ValueError:
    return ValueError(f"invalid duration {_shown(value)}: {_HINT}")


def _from_micros(micros: float, original: object) -> timedelta:
    if isinstance(micros, float) and not math.isfinite(micros):
        raise _invalid(original)
    if micros < 0:
        raise ValueError(f"invalid duration {_shown(original)}: must not be negative")
    try:
        return timedelta(microseconds=micros)
    except OverflowError:
        raise ValueError(f"invalid duration {_shown(original)}: too large") from None


def _number(text: str) -> int | float:
    """Integers stay exact (``1d2h3m4s5ms6us`` keeps its microsecond); decimals are floats."""
    return int(text) if text.isdigit() else float(text)


def _parse_text(text: str) -> timedelta:
    compact = "".join(text.split())  # "1h 30m" reads as "1h30m"
    if len(compact) > 64:
        raise _invalid(text)
    if _PLAIN_RE.match(compact):
        return _from_micros(_number(compact) * 1_000_000, text)
    match = _DURATION_RE.match(compact)
    if match is None or not any(match.groups()):
        if compact.startswith("-"):
            raise ValueError(f"invalid duration {_shown(text)}: must not be negative")
        raise _invalid(text)
    micros: int | float = 0
    for (_, size), number in zip(_UNITS, match.groups(), strict=True):
        if number is not None:
            micros += _number(number) * size
    return _from_micros(micros, text)


def parse_duration(value: str | int | float | timedelta) -> timedelta:
    """Read a duration: ``"30s"``, ``"1h30m"``, ``"1d2h"``, ``"500ms"``, or seconds as a number.

    Units go from largest to smallest (``d h m s ms us``), each at most once. Negative, empty
    and malformed values raise ``ValueError`` with a message meant for the user.
    """
    if isinstance(value, bool):
        raise _invalid(value)
    if isinstance(value, timedelta):
        if value < timedelta(0):
            raise ValueError(f"invalid duration {format_duration(value)!r}: must not be negative")
        return value
    if isinstance(value, int | float):
        return _from_micros(value * 1_000_000, value)
    if isinstance(value, str):
        return _parse_text(value)
    raise _invalid(value)


def format_duration(td: timedelta) -> str:
    """Write a duration in the compact form ``parse_duration`` reads: ``1h30m``, ``500ms``."""
    micros = (td.days * 86_400 + td.seconds) * 1_000_000 + td.microseconds
    if micros == 0:
        return "0s"
    sign = "-" if micros < 0 else ""
    micros = abs(micros)
    parts: list[str] = []
    for unit, size in _UNITS:
        count, micros = divmod(micros, size)
        if count:
            parts.append(f"{count}{unit}")
    return sign + "".join(parts)


def _validate_duration(value: Any) -> timedelta:
    """Pydantic hook: accept what ``parse_duration`` accepts, refuse the rest with its message."""
    if isinstance(value, str | int | float | timedelta):
        return parse_duration(value)
    raise _invalid(value)


#: A ``timedelta`` field that reads ``"1h30m"`` and writes it back that way in JSON mode.
Duration = Annotated[
    timedelta,
    BeforeValidator(_validate_duration),
    PlainSerializer(format_duration, when_used="json"),
]
