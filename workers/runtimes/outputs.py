"""Reading the step outputs a process wrote to the file named by ``$MAESTRO_OUTPUT``.

Shell (and spark/stream) steps report outputs by writing a small file rather than by printing,
so that their stdout stays a free-form log. Two formats are accepted, as the workflow spec says:

* one JSON object (the whole file), e.g. ``{"rows": 3, "tables": ["a", "b"]}``;
* ``key=value`` lines, e.g. ``echo rows=3 >> $MAESTRO_OUTPUT``. Blank lines and lines starting
  with ``#`` are ignored; the key and the value are stripped of surrounding whitespace; a later
  line wins over an earlier one with the same key. Values are strings, except that a value that
  is itself valid JSON is decoded: ``rows=42`` gives the int ``42``, ``ok=true`` gives ``True``,
  ``x=null`` gives ``None``, ``t=[1,2]`` a list, ``m={"a":1}`` a dict, and ``s="quoted"`` the
  string ``quoted``. Anything else (``name=plays``, ``ds=2024-01-01``, ``id=007``) stays the
  string as written. Write ``x="42"`` to force the string ``"42"``.

A malformed line (no ``=``, or an empty key) raises ``OutputError`` naming its line number, so a
step author sees what to fix. The file is capped at ``MAX_OUTPUT_BYTES`` (1 MiB): outputs travel
through the store and into expressions, bulk data belongs elsewhere.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: the largest outputs file accepted
MAX_OUTPUT_BYTES = 1024 * 1024


class OutputError(ValueError):
    """The outputs file is too large, not UTF-8, or has a malformed line."""


def read_outputs(path: Path) -> dict[str, Any]:
    """Parse the outputs file at ``path``; a missing or blank file gives ``{}``."""
    text = _read_text(path)
    if not text.strip():
        return {}
    as_json = _parse_json_object(text)
    if as_json is not None:
        return as_json
    return _parse_lines(text)


def _read_text(path: Path) -> str:
    try:
        with path.open("rb") as f:
            data = f.read(MAX_OUTPUT_BYTES + 1)
    except FileNotFoundError:
        return ""
    if len(data) > MAX_OUTPUT_BYTES:
        raise OutputError(f"outputs file is larger than {MAX_OUTPUT_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise OutputError(f"outputs file is not valid UTF-8 (byte {exc.start})") from exc


def _parse_json_object(text: str) -> dict[str, Any] | None:
    """The file as one JSON object, or None when it is not one (then it is key=value lines)."""
    if not text.lstrip().startswith("{"):
        return None
    try:
        value = _loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _parse_lines(text: str) -> dict[str, Any]:
    outputs: dict[str, Any] = {}
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key:
            raise OutputError(f"outputs line {number}: expected key=value, got {_clip(line)!r}")
        outputs[key] = _decode_value(value.strip())
    return outputs


def _decode_value(value: str) -> Any:
    """A value that is valid JSON is decoded; anything else stays the string as written."""
    try:
        return _loads(value)
    except ValueError:
        return value


def _loads(text: str) -> Any:
    """Strict JSON: ``NaN`` and ``Infinity`` are refused (they are not JSON)."""
    return json.loads(text, parse_constant=_refuse_constant)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _clip(line: str, limit: int = 80) -> str:
    return line if len(line) <= limit else line[:limit] + "…"
