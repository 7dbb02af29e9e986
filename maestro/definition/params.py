"""Run params: merge the layers a run's params come from and coerce them to declared types.

Params arrive from YAML defaults, trigger params, a CLI ``-p`` or an API body, so the same value
may be a number, a string or a date object. Coercion makes every value the declared type in a
JSON-serializable form (dates as ISO strings), since params are stored with the run and
rendered into templates.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from maestro.definition.graph import did_you_mean
from maestro.definition.json_values import json_problem
from maestro.definition.models import ParamSpec, ParamType
from maestro.errors import ParamError, Problem

_TRUE = frozenset({"true", "yes", "1", "on"})
_FALSE = frozenset({"false", "no", "0", "off"})


class _Invalid(ValueError):
    """A value that cannot be coerced; the message says what was expected."""


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _to_string(value: Any) -> str:
    if isinstance(value, str):
        if "\x00" in value:  # PostgreSQL stores no NUL in text; SQLite kept it
            raise _Invalid("text may not contain NUL (\\x00) characters")
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return str(value)
    if isinstance(value, date):  # datetime included
        return value.isoformat()
    raise _Invalid("expected a string")


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise _Invalid("expected an integer, not a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text[:1] in "+-" else text
        if digits.isascii() and digits.isdigit() and len(digits) <= 64:
            return int(text)
    raise _Invalid("expected an integer")


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise _Invalid("expected a number, not a boolean")
    result: float | None = None
    if isinstance(value, int | float):
        try:
            result = float(value)
        except OverflowError:  # an integer of hundreds of digits
            result = None
    elif isinstance(value, str) and len(value) <= 64:
        try:
            result = float(value.strip())
        except ValueError:
            result = None
    if result is None or not math.isfinite(result):
        raise _Invalid("expected a finite number")
    return result


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise _Invalid("expected a boolean (true/false, yes/no, on/off, 1/0)")


def _parse_iso_datetime(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise _Invalid("expected an ISO 8601 date-time such as 2024-05-01T03:00:00Z") from None


def _to_date(value: Any) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            pass
        try:
            return _parse_iso_datetime(value).date().isoformat()
        except _Invalid:
            pass
    raise _Invalid("expected a date such as 2024-05-01")


def _to_datetime(value: Any) -> str:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        moment = _parse_iso_datetime(value)
    else:
        raise _Invalid("expected an ISO 8601 date-time such as 2024-05-01T03:00:00Z")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat()


def _from_json(value: str, kind: type, expected: str) -> Any:
    try:
        parsed = json.loads(value)
    except (ValueError, RecursionError):
        raise _Invalid(f"expected {expected}") from None
    if not isinstance(parsed, kind):
        raise _Invalid(f"expected {expected}")
    return parsed


def _json_ready(value: Any, expected: str) -> Any:
    """Refuse what cannot be stored with the run and shown (sets, objects, NaN, non-string
    keys, nesting deeper than a definition's)."""
    problem = json_problem(value, ("value",))
    if problem is not None:
        raise _Invalid(problem)
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError, RecursionError):
        raise _Invalid(f"expected {expected} of JSON values") from None


def _to_list(value: Any) -> list[Any]:
    expected = "a list (or a JSON array)"
    if isinstance(value, str):
        value = _from_json(value, list, expected)
    if not isinstance(value, list | tuple):
        raise _Invalid(f"expected {expected}")
    result: list[Any] = _json_ready(list(value), "a list")
    return result


def _to_map(value: Any) -> dict[str, Any]:
    expected = "a map (or a JSON object)"
    if isinstance(value, str):
        value = _from_json(value, dict, expected)
    if not isinstance(value, dict):
        raise _Invalid(f"expected {expected}")
    if not all(isinstance(key, str) for key in value):
        raise _Invalid("expected a map with string keys")
    result: dict[str, Any] = _json_ready(value, "a map")
    return result


_COERCERS: dict[ParamType, Callable[[Any], Any]] = {
    ParamType.string: _to_string,
    ParamType.int: _to_int,
    ParamType.float: _to_float,
    ParamType.bool: _to_bool,
    ParamType.date: _to_date,
    ParamType.datetime: _to_datetime,
    ParamType.list: _to_list,
    ParamType.map: _to_map,
}


def coerce(name: str, ptype: ParamType | str, value: Any) -> Any:
    """``value`` as the JSON form of ``ptype``; ``ParamError`` naming the param if it is not one.

    ``None`` stays ``None`` whatever the type: it is how a param with ``default: null`` says
    "no value".
    """
    if value is None:
        return None
    try:
        kind = ParamType(ptype)
    except ValueError:
        raise ParamError([Problem(("params", name), f"unknown param type {ptype!r}")]) from None
    try:
        return _COERCERS[kind](value)
    except _Invalid as exc:
        msg = f"param '{name}' ({kind.value}): {exc}, got {_shown(value)}"
        raise ParamError([Problem(("params", name), msg)]) from None


def _layered(
    specs: Mapping[str, ParamSpec], layers: Sequence[Mapping[str, Any]], problems: list[Problem]
) -> dict[str, Any]:
    """The values given by the layers, later layers winning; undeclared names are problems."""
    values: dict[str, Any] = {}
    for layer in layers:
        for name, value in layer.items():
            if name in specs:
                values[name] = value
                continue
            problem = Problem(
                ("params", name), f"unknown param '{name}'{did_you_mean(name, specs)}"
            )
            if problem not in problems:
                problems.append(problem)
    return values


def _rendered_default(
    name: str, spec: ParamSpec, render: Callable[[Any], Any], problems: list[Problem]
) -> tuple[bool, Any]:
    """``(True, value)`` for a rendered default; ``(False, None)`` when there is none."""
    if spec.required:
        problems.append(Problem(("params", name), f"required param '{name}' is missing"))
        return False, None
    try:
        return True, render(spec.default)
    except Exception as exc:  # a template error must name the param, whatever raised it
        detail = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        problems.append(Problem(("params", name), f"default of param '{name}': {detail}"))
        return False, None


def resolve_params(
    specs: Mapping[str, ParamSpec],
    layers: Sequence[Mapping[str, Any]],
    render: Callable[[Any], Any],
) -> dict[str, Any]:
    """The run's params: declared defaults, then each layer in order (later wins), coerced.

    ``render`` turns a default's templates (``{{ run.logical_date | ds }}``) into values; it is
    only called for defaults that no layer overrides, so a default that cannot render in this
    context (a signal param in a manual run) does not matter when the value is given. Layer
    values are taken as given: a caller renders trigger params before passing them. Every
    problem is collected into one ``ParamError``.
    """
    problems: list[Problem] = []
    values = _layered(specs, layers, problems)
    for name, spec in specs.items():
        if name not in values:
            present, value = _rendered_default(name, spec, render, problems)
            if present:
                values[name] = value
    result: dict[str, Any] = {}
    for name, spec in specs.items():
        if name not in values:
            continue
        if values[name] is None and spec.required:  # null is no value, and one is required
            problems.append(Problem(("params", name), f"required param '{name}' is null"))
            continue
        try:
            result[name] = coerce(name, spec.type, values[name])
        except ParamError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ParamError(problems)
    return result
