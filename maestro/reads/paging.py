"""Keyset pages: rows after an opaque cursor (the base64 of the last row's key), read through
an index, one row more than asked to learn whether there is a next page. No OFFSET and no
COUNT(*): the run history stays as fast on its millionth run as on its first."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from maestro.errors import MaestroError
from maestro.states import RunStatus

T = TypeVar("T")
MAX_LIMIT = 500
#: runs that hold a workflow back from being deleted
ACTIVE_RUN_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.PAUSED)


class InvalidCursor(MaestroError):
    """The pagination cursor is not one this server handed out."""


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


# -- cursors -------------------------------------------------------------------------------


def encode_cursor(key: int | str) -> str:
    raw = f"{'i' if isinstance(key, int) else 's'}:{key}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidCursor() from None
    kind, sep, value = raw.partition(":")
    if not sep or kind not in ("i", "s"):
        raise InvalidCursor()
    return kind, value


def int_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    kind, value = _decode(cursor)
    digits = value.removeprefix("-")
    if kind != "i" or not (digits.isascii() and digits.isdigit()) or len(digits) > 19:
        raise InvalidCursor()
    number = int(value)
    if not -(2**63) <= number < 2**63:  # what the databases' 64-bit keys hold
        raise InvalidCursor()
    return number


def str_cursor(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    kind, value = _decode(cursor)
    if kind != "s":
        raise InvalidCursor()
    return value


def page_of(rows: Sequence[Any], limit: int, make: Callable[[Any], T], key: str) -> Page[T]:
    """The first ``limit`` rows as items; the cursor is the key of the last one shown, if more
    rows follow (one extra row was read to know)."""
    shown = rows[:limit]
    more = len(rows) > limit
    return Page([make(r) for r in shown], encode_cursor(getattr(shown[-1], key)) if more else None)


def clamp_limit(limit: int) -> int:
    return max(1, min(limit, MAX_LIMIT))
