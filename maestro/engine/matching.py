"""Whether a signal's payload fits a ``match`` (of a step's ``wait_for`` or a signal trigger).

Every field of the match must be in the payload and fit it: a plain value must be equal (a
boolean only equals a boolean: ``true`` does not match ``1``); a map of one operator to a
value compares — ``{ds: {">=": "2024-05-01"}}`` — with ``=``, ``!=``, ``>``, ``>=``, ``<``,
``<=``: numbers compare as numbers, anything else as strings (ISO dates order correctly).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

from maestro.definition.basics import MATCH_OPERATORS

_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
OPERATORS = MATCH_OPERATORS


def payload_matches(match: Mapping[str, Any], payload: Mapping[str, Any]) -> bool:
    return all(key in payload and fits(payload[key], want) for key, want in match.items())


def operator_of(want: Any) -> str | None:
    """The operator of a match value written as ``{op: value}`` (None: a plain value)."""
    if isinstance(want, Mapping) and len(want) == 1:
        (key,) = want
        if key in OPERATORS:
            return str(key)
    return None


def fits(value: Any, want: Any) -> bool:
    op = operator_of(want)
    if op is None:
        return _same(want, value)
    operand = next(iter(want.values()))
    if op == "=":
        return _same(operand, value)
    if op == "!=":
        return not _same(operand, value)
    if _number(value) and _number(operand):
        return _ORDER[op](value, operand)
    if value is None or operand is None:
        return False
    return _ORDER[op](str(value), str(operand))


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)
