"""The bounds a JSON value from a client keeps: a list or map run param, a signal's payload.

A definition's text is bounded as it is read (``yaml_input``); values that arrive as run
params or signal payloads were not, and a list nested 300 levels deep was stored, then made
every later read of its run fail (the API's JSON encoder stops at a few hundred levels). The
same caps as a definition's apply: nesting, keys in one map, finite numbers, string keys;
and no NUL character in text (PostgreSQL refuses it, SQLite kept it).
"""

from __future__ import annotations

import math
from typing import Any

from maestro.definition.yaml_input import MAX_MAP_KEYS, MAX_NESTING
from maestro.errors import format_loc

Path = tuple[str | int, ...]


def _place(path: Path, where: Path) -> str:
    """``path`` as users read it, its middle elided when it is long (a deep nesting's)."""
    if len(path) - len(where) > 6:
        path = (*path[: len(where) + 3], "…", *path[-2:])
    return format_loc(path).replace(".…", "…")


def json_problem(value: Any, where: Path = ()) -> str | None:
    """What makes ``value`` unfit to store and show, with where it is (``payload.a[3]: …``);
    None if it is fine. ``where``: the value's own place, the start of every path named."""
    stack: list[tuple[Any, Path]] = [(value, where)]
    while stack:
        item, path = stack.pop()
        depth = len(path) - len(where)
        if isinstance(item, float) and not math.isfinite(item):
            return f"{_place(path, where)}: numbers must be finite, got {item}"
        if isinstance(item, str) and "\x00" in item:  # PostgreSQL stores no NUL in text
            return f"{_place(path, where)}: text may not contain NUL (\\x00) characters"
        if isinstance(item, dict | list | tuple):
            if depth >= MAX_NESTING:
                return f"{_place(path, where)}: nested more than {MAX_NESTING} levels deep"
            if isinstance(item, dict):
                if len(item) > MAX_MAP_KEYS:
                    keys = f"a map of {len(item)} keys; at most {MAX_MAP_KEYS}"
                    return f"{_place(path, where)}: {keys}"
                for key, inner in item.items():
                    if not isinstance(key, str) or "\x00" in key:
                        return (
                            f"{_place(path, where)}: map keys must be text without NUL, got {key!r}"
                        )
                    stack.append((inner, (*path, key)))
            else:
                stack.extend((inner, (*path, i)) for i, inner in enumerate(item))
    return None
