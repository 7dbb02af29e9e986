"""Reading a definition's text: UTF-8, YAML under size, depth and key-count caps, then
normalized to plain data (string keys, no YAML tags), each problem located."""

from __future__ import annotations

import json
import re
import time
from datetime import date
from typing import Any

import yaml

from maestro.errors import DefinitionError, Loc, Problem

#: largest definition text accepted, in bytes (UTF-8)
MAX_DEFINITION_BYTES = 1024 * 1024
#: deepest nesting of maps and lists; far above what a real definition needs
MAX_NESTING = 100
#: most values in a document once YAML aliases are expanded ("billion laughs")
MAX_NODES = 1_000_000
#: most keys in one map: a 1 MB map of 100,000 keys took 9.5 s to validate
MAX_MAP_KEYS = 1000


# ---------------------------------------------------------------------------------------------
# text → data


class _Loader(yaml.SafeLoader):
    """Safe YAML with YAML 1.2 booleans (only true/false) and dates kept as strings.

    ``on``/``yes``/``no`` stay strings (pydantic and param coercion still read them as
    booleans where a boolean is expected), and ``2024-05-01`` stays the string the user wrote,
    so a normalized definition holds only JSON values.
    """


#: YAML nodes composed between two moments where the parser lets other threads run
_YIELD_EVERY = 50


class _KeyCap(Exception):
    """A map with more than ``MAX_MAP_KEYS`` keys, found at ``path`` while composing."""

    def __init__(self, path: tuple[str | int, ...]) -> None:
        super().__init__(path)
        self.path = path


class _DuplicateKey(Exception):
    """A map that gives the same key twice: YAML and JSON would keep the last one silently
    (``id: x`` then ``id: y`` submitted workflow ``y``)."""

    def __init__(self, path: tuple[str | int, ...], line: int) -> None:
        super().__init__(path)
        self.path = path
        self.line = line


class _CappedLoader(_Loader):
    """Stops composing at the first map with more than ``MAX_MAP_KEYS`` keys, knowing its path:
    composing a huge map costs seconds before anything else could look at it."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._path: list[str | int] = []
        self._composed = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._composed += 1
        if self._composed % _YIELD_EVERY == 0:
            # Parsing a large body takes seconds of pure Python: in a server it runs in a
            # thread, and letting go of the GIL often keeps the event loop's answers prompt.
            time.sleep(0)
        if index is None:  # the root, or a map's key
            return super().compose_node(parent, index)  # type: ignore[arg-type]
        self._path.append(index.value if isinstance(index, yaml.ScalarNode) else index)
        try:
            return super().compose_node(parent, index)
        finally:
            self._path.pop()

    def compose_mapping_node(self, anchor: Any) -> Any:
        start = self.get_event()  # type: ignore[no-untyped-call]
        tag = start.tag
        if tag is None or tag == "!":
            tag = self.resolve(yaml.MappingNode, None, start.implicit)  # type: ignore[no-untyped-call]
        node = yaml.MappingNode(tag, [], start.start_mark, None, flow_style=start.flow_style)
        if anchor is not None:
            self.anchors[anchor] = node
        seen: set[tuple[str, str]] = set()
        while not self.check_event(yaml.MappingEndEvent):
            if len(node.value) >= MAX_MAP_KEYS:
                raise _KeyCap(tuple(self._path))
            key = self.compose_node(node, None)
            if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                if (key.tag, key.value) in seen:
                    raise _DuplicateKey((*self._path, key.value), key.start_mark.line + 1)
                seen.add((key.tag, key.value))
            node.value.append((key, self.compose_node(node, key)))
        node.end_mark = self.get_event().end_mark  # type: ignore[no-untyped-call]
        return node


def _too_many_keys(path: Loc, source: str | None) -> DefinitionError:
    return _fail(f"a map with more than {MAX_MAP_KEYS} keys", source, path)


_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, rx)
        for tag, rx in resolvers
        if not tag.endswith((":bool", ":timestamp", ":int", ":float"))
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)
# Numbers without YAML 1.1's surprises: it read ``timeout: 1:30`` as 90 (base 60) and ``010``
# as 8 (octal); here ``1:30`` stays the string it looks like (an invalid duration, said so),
# ``010`` is ten and ``0o10`` octal (YAML 1.2). The rest stays as YAML 1.1 had it, so that
# definitions that worked keep their meaning: ``1_000`` is 1000, a float needs its dot
# (``1e3`` and a tag such as ``8e71234`` stay strings).
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?[0-9][0-9_]*|0o[0-7]+|0x[0-9a-fA-F]+)$"),
    list("-+0123456789"),
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+][0-9]+)?|[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _yaml12_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node)).replace("_", "")
    if text.startswith(("0o", "0x")):
        return int(text[2:], 8 if text[1] == "o" else 16)
    return int(text, 10)  # a leading zero is decimal


_Loader.add_constructor("tag:yaml.org,2002:int", _yaml12_int)


def _fail(msg: str, source: str | None, loc: Loc = ()) -> DefinitionError:
    return DefinitionError([Problem(loc, msg)], source)


def _decode(text: str | bytes, source: str | None) -> str:
    """The text as ``str``, refusing more than ``MAX_DEFINITION_BYTES`` of UTF-8."""
    too_large = f"definition is larger than {MAX_DEFINITION_BYTES} bytes (1 MiB)"
    if isinstance(text, bytes | bytearray):
        if len(text) > MAX_DEFINITION_BYTES:
            raise _fail(too_large, source)
        try:
            return bytes(text).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            msg = f"definition is not UTF-8 text (bad byte at offset {exc.start})"
            raise _fail(msg, source) from None
    if not isinstance(text, str):
        raise _fail(f"definition must be text, got {type(text).__name__}", source)
    if len(text) > MAX_DEFINITION_BYTES or (
        len(text.encode("utf-8", "surrogatepass")) > MAX_DEFINITION_BYTES
    ):
        raise _fail(too_large, source)
    return text


def _yaml_message(exc: Exception) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        context = f" ({exc.context})" if exc.context else ""
        where = f"line {mark.line + 1}, column {mark.column + 1}"
        return f"invalid YAML at {where}: {exc.problem}{context}"
    if isinstance(exc, RecursionError):
        return "invalid YAML: nested too deeply"
    return "invalid YAML: " + " ".join(str(exc).split())


class _DuplicateJsonKey(ValueError):
    """A JSON object that gives a key twice (the JSON parser knows no path: YAML finds it)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object's pairs as a dict, refusing a key given twice."""
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateJsonKey(key)
            seen.add(key)
    return result


def _parse_yaml(text: str, source: str | None) -> Any:
    """YAML (JSON included) to data. JSON objects take the fast path of the json module.

    The pure-Python YAML parser is used on purpose: libyaml's composer crashes the process on
    deeply nested input, where the Python one raises ``RecursionError``.
    """
    duplicate: _DuplicateJsonKey | None = None
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text, object_pairs_hook=_unique_keys)
        except _DuplicateJsonKey as exc:
            duplicate = exc  # YAML finds its path (JSON is YAML), unless it cannot read it
        except (ValueError, RecursionError):
            pass  # maybe a YAML flow mapping; YAML also gives a line and column for errors
    try:
        return yaml.load(text, Loader=_CappedLoader)  # a SafeLoader subclass
    except _KeyCap as exc:
        raise _too_many_keys(exc.path, source) from None
    except _DuplicateKey as exc:
        msg = f"key {exc.path[-1]!r} given twice (again at line {exc.line}); give it once"
        raise _fail(msg, source, exc.path) from None
    except Exception as exc:  # PyYAML raises more than YAMLError on odd input (bad dates, ...)
        if duplicate is not None:  # valid JSON (tabs, say) that YAML cannot read
            raise _fail(f"key {duplicate.key!r} given twice; give it once", source) from None
        raise _fail(_yaml_message(exc), source) from None


# ---------------------------------------------------------------------------------------------
# data → plain JSON data


def _kind(value: Any) -> str:
    """How a value's type is named in messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


def _key_text(key: Any) -> str:
    """Map keys as text: YAML may give ``1: x`` or ``true: x``."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    if isinstance(key, date):
        return key.isoformat()
    return str(key)


class _Normalizer:
    """Copies data into plain JSON types, bounding its size, depth and refusing cycles.

    YAML aliases can make a small text expand enormously or refer to itself; everything after
    this step walks the data freely, so the bounds are enforced here, once.
    """

    def __init__(self, source: str | None) -> None:
        self.source = source
        self.nodes = 0
        self.path: list[str | int] = []
        self.open: set[int] = set()
        self.problems: list[Problem] = []

    def value(self, value: Any) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _fail(f"definition has more than {MAX_NODES} values (YAML aliases?)", self.source)
        if isinstance(value, str) and "\x00" in value:  # PostgreSQL stores no NUL in text
            self.problems.append(
                Problem(tuple(self.path), "text may not contain NUL (\\x00) characters")
            )
            return value
        if value is None or isinstance(value, str | bool | int):
            return value
        if isinstance(value, float):
            if value != value or value in (float("inf"), float("-inf")):
                self.problems.append(Problem(tuple(self.path), "numbers must be finite"))
            return value
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, dict | list | tuple):
            return self.container(value)
        self.problems.append(
            Problem(tuple(self.path), f"unsupported value of type {type(value).__name__}")
        )
        return None

    def container(self, value: dict[Any, Any] | list[Any] | tuple[Any, ...]) -> Any:
        if id(value) in self.open:
            raise _fail("definition refers to itself (recursive YAML alias)", self.source)
        if len(self.path) >= MAX_NESTING:
            raise _fail(f"definition is nested more than {MAX_NESTING} levels deep", self.source)
        self.open.add(id(value))
        try:
            if isinstance(value, dict):
                if len(value) > MAX_MAP_KEYS:  # JSON, or a map made by YAML merge keys
                    raise _too_many_keys(tuple(self.path), self.source)
                return {_key_text(k): self.item(_key_text(k), v) for k, v in value.items()}
            return [self.item(i, v) for i, v in enumerate(value)]
        finally:
            self.open.discard(id(value))

    def item(self, key: str | int, value: Any) -> Any:
        self.path.append(key)
        try:
            return self.value(value)
        finally:
            self.path.pop()


def _normalize(data: Any, source: str | None) -> Any:
    normalizer = _Normalizer(source)
    result = normalizer.value(data)
    if normalizer.problems:
        raise DefinitionError(normalizer.problems, source)
    return result
