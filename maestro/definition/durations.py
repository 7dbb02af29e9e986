"""Durations as users write them (``30s``, ``1h30m``, ``500ms``) and back.

Definitions are written by hand, so durations take the compact unit form that Argo, Go and
Prometheus users already know; plain numbers are seconds. Maestro's spelled form is read too
(``"20 minutes"``, ``"1 hour 30 minutes"``, ``"2 days, 3 hours and 5 seconds"``), so that
definitions brought from Maestro keep their timeouts as written. ``format_duration`` gives the same
compact form so that a normalized definition reads like the original and parses back to the
same value.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, PlainValidator

_HINT = (
    "use a number with units s, m, h, d such as 30s or 1h30m, or spelled: '20 minutes', "
    "'1 hour 30 minutes'"
)

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
#: the spelled units, largest first, each with the compact unit it stands for
_SPELLED_UNITS: tuple[tuple[str, str], ...] = (
    ("d", r"days?"),
    ("h", r"hours?|hrs?"),
    ("m", r"minutes?|mins?"),
    ("s", r"seconds?|secs?"),
    ("ms", r"milliseconds?|millis"),
)
_SPELLED_ALTERNATIVES = "|".join(f"(?:{words})" for _, words in _SPELLED_UNITS)
_SPELLED_PART = re.compile(
    rf"\s*{_NUMBER}\s*({_SPELLED_ALTERNATIVES})\b\s*(?:,?\s*\band\b|,)?", re.IGNORECASE
)
_SPELLED_WORDS = tuple(
    (unit, re.compile(rf"^(?:{words})$", re.IGNORECASE)) for unit, words in _SPELLED_UNITS
)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _invalid(value: object) -> ValueError:
    return ValueError(f"invalid duration {_shown(value)}: {_HINT}")


#: the longest duration: a timeout or delay added to now must stay a date (year 9999); a
#: million days fit a ``timedelta`` but not a date, and crashed the run that reached them
MAX_DURATION = timedelta(days=36_500)


def _from_micros(micros: float, original: object) -> timedelta:
    if isinstance(micros, float) and not math.isfinite(micros):
        raise _invalid(original)
    if micros < 0:
        raise ValueError(f"invalid duration {_shown(original)}: must not be negative")
    if micros > MAX_DURATION / timedelta(microseconds=1):
        raise ValueError(f"invalid duration {_shown(original)}: too large (at most 36500d)")
    return timedelta(microseconds=micros)


def _number(text: str) -> int | float:
    """Integers stay exact (``1d2h3m4s5ms6us`` keeps its microsecond); decimals are floats."""
    return int(text) if text.isdigit() else float(text)


def _spelled(text: str) -> str | None:
    """``"1 hour 30 minutes"`` as ``"1h30m"``; None when ``text`` is not in the spelled form.

    Units go from largest to smallest, each at most once (as in the compact form); parts may be
    separated by spaces, commas or ``and``."""
    if not any(c.isalpha() for c in text) or len(text) > 200:
        return None
    pos, parts, order = 0, [], -1
    units = [unit for unit, _ in _SPELLED_UNITS]
    while pos < len(text):
        match = _SPELLED_PART.match(text, pos)
        if match is None or match.end() == pos:
            return None
        number, word = match.group(1), match.group(2)
        unit = next(u for u, pattern in _SPELLED_WORDS if pattern.match(word))
        if units.index(unit) <= order:
            return None
        order = units.index(unit)
        parts.append(f"{number}{unit}")
        pos = match.end()
    return "".join(parts) or None


def _parse_text(text: str) -> timedelta:
    compact = _spelled(text) or "".join(text.split())  # "1h 30m" reads as "1h30m"
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
        if value > MAX_DURATION:
            raise ValueError(
                f"invalid duration {format_duration(value)!r}: too large (at most 36500d)"
            )
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
    if isinstance(value, str) and ("{{" in value or "{%" in value):
        raise ValueError(
            f"a template is not accepted here ({_shown(value)}): this duration is read before "
            "anything is rendered; write a duration such as 30s or '20 minutes'"
        )
    if isinstance(value, str | int | float | timedelta):
        return parse_duration(value)
    raise _invalid(value)


#: A ``timedelta`` field that reads ``"1h30m"`` and writes it back that way in JSON mode.
Duration = Annotated[
    timedelta,
    BeforeValidator(_validate_duration),
    PlainSerializer(format_duration, when_used="json"),
]


def _validate_templated_duration(value: Any) -> timedelta | str:
    """A template (``"{{ params.t }}"``) is kept as written, to be rendered when the step runs;
    anything else must be a duration now."""
    if isinstance(value, str) and ("{{" in value or "{%" in value):
        return value
    return _validate_duration(value)


def _serialize_templated_duration(value: timedelta | str) -> str:
    return value if isinstance(value, str) else format_duration(value)


#: A duration that may also be a template, rendered when the step runs (``sleep.duration``,
#: ``http.timeout``, ``notebook.timeout``): the runtime reads the rendered text with
#: ``parse_duration``.
TemplatedDuration = Annotated[
    timedelta | str,
    PlainValidator(_validate_templated_duration),
    PlainSerializer(_serialize_templated_duration, when_used="json"),
]
