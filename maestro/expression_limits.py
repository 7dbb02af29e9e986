"""Size limits of the expression sandbox (``maestro.expressions``): every operator, filter and
``str`` method that can grow a value checks the result it would make against
``MAX_VALUE_BYTES`` before making it, so a definition cannot exhaust the scheduler's memory."""

from __future__ import annotations

import functools
import re
import types
from collections.abc import (
    Callable,
    Iterable,
    Mapping,
)
from itertools import islice
from typing import Any, TypeVar

from jinja2 import Undefined
from jinja2.utils import generate_lorem_ipsum

#: Largest value (rendered text, string, list…) an expression may produce, in bytes.
MAX_VALUE_BYTES = 1 << 20
#: Largest integer an expression may compute, in bits (about 19,700 decimal digits).
MAX_INT_BITS = 1 << 16

_T = TypeVar("_T")
_SCALAR_BYTES = 8


#: ``%`` conversions with a width or precision: ``%-10s``, ``%(name)5.2f``, ``%*d``.
_PRINTF_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
#: ``str.format`` fields with a format spec: ``{:>10}``, ``{0:.3f}``.
_FORMAT_SPEC = re.compile(r"\{[^{}]*?:([^{}]*)\}")
#: ``str.format`` fields whose spec is itself a field: ``{:>{}}``.
_FORMAT_NESTED = re.compile(r"\{[^{}]*\{")
_DIGITS = re.compile(r"\d+")


class _Refused(Exception):
    """A limit or a filter's own check refused the operation; the message is shown as is."""


# --------------------------------------------------------------------------------------------
# Size limits
# --------------------------------------------------------------------------------------------


def _limit(size: int, what: str) -> None:
    if size > MAX_VALUE_BYTES:
        raise _Refused(f"{what} is too large (over the {MAX_VALUE_BYTES}-byte limit)")


def _limit_bits(bits: int, operator: str) -> None:
    if bits > MAX_INT_BITS:
        raise _Refused(f"the result of {operator!r} is too large (over {MAX_INT_BITS} bits)")


def _text_bytes(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _estimate(value: Any, budget: int = MAX_VALUE_BYTES) -> int:
    """Rough size of ``value`` in bytes; stops counting once over ``budget``.

    Walks plain containers only (lazy mappings count as one scalar), and raises on an
    undefined value anywhere inside, as printing it would.
    """
    total = 0
    stack = [value]
    while stack and total <= budget:
        item = stack.pop()
        if isinstance(item, str):
            total += _text_bytes(item)
        elif isinstance(item, bytes | bytearray):
            total += len(item)
        elif isinstance(item, dict):
            total += _SCALAR_BYTES
            stack.extend(islice(item.items(), (budget - total) // _SCALAR_BYTES + 1))
        elif isinstance(item, list | tuple | set | frozenset):
            total += _SCALAR_BYTES
            stack.extend(islice(item, (budget - total) // _SCALAR_BYTES + 1))
        elif isinstance(item, Undefined):
            item._fail_with_undefined_error()
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 1
        else:
            total += _SCALAR_BYTES
    return total


def _check_size(value: _T, what: str) -> _T:
    """Return ``value`` if its size (or an int's bits) is within the limits; a container's size
    is its items' (a list of 1,000 distinct 1 MiB strings is 1 GB, not 1,000)."""
    if isinstance(value, str | bytes):
        _limit(len(value), what)
    elif isinstance(value, list | tuple | dict | set):
        _limit(_estimate(value), what)
    elif isinstance(value, int):
        _limit_bits(value.bit_length(), what)
    return value


def _bounded_list(items: Iterable[Any], what: str, per_item: int = 0) -> list[Any]:
    """Materialise ``items``, refusing once they (plus ``per_item`` each) pass the limit."""
    out: list[Any] = []
    size = 0
    for item in items:
        size += _estimate(item, MAX_VALUE_BYTES - size) + per_item
        _limit(size, what)
        out.append(item)
    return out


def _check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse ``*``, ``**`` and ``%`` whose result would be too large, before computing it."""
    if operator == "*":
        _check_repeat(left, right)
        _check_repeat(right, left)
        if isinstance(left, int) and isinstance(right, int):
            _limit_bits(left.bit_length() + right.bit_length(), operator)
    elif operator == "**":
        if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
            _limit_bits((abs(left).bit_length() - 1) * right + 1, operator)
    elif operator == "%" and isinstance(left, str):
        _check_printf(left, right)


def _check_repeat(sequence: Any, times: Any) -> None:
    if isinstance(sequence, str | bytes | list | tuple) and isinstance(times, int) and times > 1:
        _limit(_estimate(sequence) * times, "the result of '*'")


def _check_printf(template: str, values: Any) -> None:
    """Refuse ``template % values`` with huge widths or precisions."""
    args = tuple(values.values()) if isinstance(values, Mapping) else values
    args = args if isinstance(args, tuple) else (args,)
    dynamic = False
    for match in _PRINTF_SPEC.finditer(template):
        for number in match.groups():
            dynamic = dynamic or number == "*"
            if number and number != "*":
                _limit(int(number), "a '%' field width")
    if dynamic:
        _check_width_args(args)
    _limit(len(template) + _estimate(args), "the result of '%'")


def _check_format(template: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Refuse ``template.format(...)`` with huge widths or precisions."""
    for match in _FORMAT_SPEC.finditer(template):
        for number in _DIGITS.findall(match.group(1)):
            _limit(int(number), "a format() field width")
    if _FORMAT_NESTED.search(template):
        _check_width_args((*args, *kwargs.values()))
    _limit(len(template) + _estimate((args, dict(kwargs))), "the result of format()")


def _check_width_args(args: Iterable[Any]) -> None:
    for arg in args:
        if isinstance(arg, int):
            _limit(arg, "a field width")


def _check_str_method(method: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Refuse ``str`` method calls that would build a huge string; returns the args to use."""
    owner = getattr(method, "__self__", None)
    if not isinstance(method, types.BuiltinMethodType) or not isinstance(owner, str):
        return args
    name = method.__name__
    if name == "join" and args:
        return (_bounded_list(args[0], "join()", len(owner)), *args[1:])
    first = args[0] if args else None
    if name in ("center", "ljust", "rjust", "zfill") and isinstance(first, int):
        _limit(first, f"{name}()")
    elif name == "expandtabs":
        _limit(len(owner) * (first if isinstance(first, int) else 8), "expandtabs()")
    elif name == "replace" and len(args) >= 2:
        _limit(_replaced_size(owner, *args[:3]), "replace()")
    return args


def _replaced_size(s: str, old: Any, new: Any, count: Any = None) -> int:
    old, new = str(old), str(new)
    hits = s.count(old) if old else len(s) + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return len(s) + hits * max(0, len(new) - len(old))


# --------------------------------------------------------------------------------------------
# Guarded built-in filters and globals
# --------------------------------------------------------------------------------------------


def _center_size(value: Any, width: int = 80) -> int:
    return max(len(str(value)), width)


def _indent_size(s: Any, width: int | str = 4, first: bool = False, blank: bool = False) -> int:
    text = str(s)
    pad = len(width) if isinstance(width, str) else width
    return len(text) + (text.count("\n") + 1) * pad


def _replace_size(s: Any, old: Any, new: Any, count: int | None = None) -> int:
    return _replaced_size(str(s), old, new, count)


def _wordwrap_size(
    s: Any,
    width: int = 79,
    break_long_words: bool = True,
    wrapstring: str | None = None,
    break_on_hyphens: bool = True,
) -> int:
    text = str(s)
    lines = len(text) // max(width, 1) + text.count("\n") + 1
    return len(text) + lines * len(wrapstring if wrapstring is not None else "\n")


def _format_size(value: Any, *args: Any, **kwargs: Any) -> int:
    template = str(value)
    _check_printf(template, kwargs or args)
    return len(template)


def _batch_size(value: Any, linecount: int, fill_with: Any = None) -> int:
    return 0 if fill_with is None else linecount * _SCALAR_BYTES


def _slice_size(value: Any, slices: int, fill_with: Any = None) -> int:
    return slices * _SCALAR_BYTES


#: Filters that can build a large value from a small one: their projected result size.
_FILTER_PROJECTIONS: dict[str, Callable[..., int]] = {
    "center": _center_size,
    "indent": _indent_size,
    "replace": _replace_size,
    "wordwrap": _wordwrap_size,
    "format": _format_size,
    "batch": _batch_size,
    "slice": _slice_size,
}


def _guard_filter(
    name: str, func: Callable[..., Any], projection: Callable[..., int] | None
) -> Callable[..., Any]:
    """Wrap a filter: check its projected size first (if known) and its result's size after.

    ``functools.wraps`` copies Jinja's pass-context markers, so the wrapper is called like the
    filter; the projection skips that first argument.
    """
    skip = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0
    what = f"the result of the {name} filter"

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if projection is not None:
            _limit(projection(*args[skip:], **kwargs), what)
        return _check_size(func(*args, **kwargs), what)

    return guarded


def _guard_join(join: Callable[..., Any]) -> Callable[..., Any]:
    """``join`` materialises its items under the size limit before joining them."""

    @functools.wraps(join)
    def guarded(eval_ctx: Any, value: Iterable[Any], d: str = "", attribute: Any = None) -> Any:
        items = _bounded_list(value, "the result of the join filter", len(str(d)))
        return join(eval_ctx, items, d, attribute)

    return guarded


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    """Jinja's ``lipsum`` global with its output size bounded."""
    _limit(n * max * 16, "lipsum()")
    return generate_lorem_ipsum(n, html, min, max)
