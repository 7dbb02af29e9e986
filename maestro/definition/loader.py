"""Read a workflow definition from YAML/JSON text or data, with every problem reported at once.

This is the front door for hand-written files and API bodies, so it never fails with anything
but ``DefinitionError``: YAML syntax errors, wrong types, unknown keys (with a did-you-mean),
DAG errors and expression syntax errors all become ``Problem``s at the user's own path
(``steps[2].depends_on[0]``), sorted in document order. Steps receive ``defaults`` here, before
validation, so a field given in ``defaults`` satisfies a step the same way as writing it there.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import types
from collections.abc import Callable, Iterator
from datetime import date
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, Tag, ValidationError
from pydantic_core import ErrorDetails

from maestro.definition.graph import Node, check_nodes, did_you_mean
from maestro.definition.models import (
    DEFAULTABLE_SETTINGS,
    SETTINGS_KEYS,
    ParamType,
    StepDefaults,
    WorkflowDefinition,
)
from maestro.definition.params import coerce
from maestro.errors import DefinitionError, Loc, ParamError, Problem
from maestro.expressions import check_expression, check_template, contains_template
from maestro.wording import plural

#: largest definition text accepted, in bytes (UTF-8)
MAX_DEFINITION_BYTES = 1024 * 1024
#: deepest nesting of maps and lists; far above what a real definition needs
MAX_NESTING = 100
#: most values in a document once YAML aliases are expanded ("billion laughs")
MAX_NODES = 1_000_000
#: most keys in one map: a 1 MB map of 100,000 keys took 9.5 s to validate
MAX_MAP_KEYS = 1000
#: deepest nesting of foreach bodies
MAX_FOREACH_DEPTH = 10

#: step fields that ``defaults`` may give (the type-settings keys apply to their type only)
_DEFAULTED_FIELDS = frozenset(StepDefaults.model_fields)
_WHOLE_TEMPLATE_RE = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\{\{|\}\}).)*)\}\}\s*$", re.DOTALL)


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
        while not self.check_event(yaml.MappingEndEvent):
            if len(node.value) >= MAX_MAP_KEYS:
                raise _KeyCap(tuple(self._path))
            key = self.compose_node(node, None)
            node.value.append((key, self.compose_node(node, key)))
        node.end_mark = self.get_event().end_mark  # type: ignore[no-untyped-call]
        return node


def _too_many_keys(path: Loc, source: str | None) -> DefinitionError:
    return _fail(f"a map with more than {MAX_MAP_KEYS} keys", source, path)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if not tag.endswith((":bool", ":timestamp"))]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


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


def _parse_yaml(text: str, source: str | None) -> Any:
    """YAML (JSON included) to data. JSON objects take the fast path of the json module.

    The pure-Python YAML parser is used on purpose: libyaml's composer crashes the process on
    deeply nested input, where the Python one raises ``RecursionError``.
    """
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            pass  # maybe a YAML flow mapping; YAML also gives a line and column for errors
    try:
        return yaml.load(text, Loader=_CappedLoader)  # a SafeLoader subclass
    except _KeyCap as exc:
        raise _too_many_keys(exc.path, source) from None
    except Exception as exc:  # PyYAML raises more than YAMLError on odd input (bad dates, ...)
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


# ---------------------------------------------------------------------------------------------
# pydantic errors → problems at the user's paths


def _unwrap(tp: Any) -> Any:
    """Strip ``Annotated`` and ``X | None``: neither adds a part to pydantic's error locations."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            members = [a for a in get_args(tp) if a is not type(None)]
            if len(members) != 1:
                return tp
            tp = members[0]
        else:
            return tp


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _union_member(tp: Any, label: str | int) -> Any:
    """The union member that pydantic's location part ``label`` (a tag or class name) names."""
    for member in get_args(tp):
        tags = getattr(member, "__metadata__", ())
        if any(isinstance(t, Tag) and t.tag == label for t in tags):
            return member
        inner = _unwrap(member)
        if _is_model(inner) and inner.__name__ == label:
            return member
    return Any


def _field_type(model: type[BaseModel], key: str | int) -> Any:
    """The annotation of the field named (or aliased) ``key``; ``Any`` for an unknown key."""
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return info.annotation
    return Any


def _child_type(tp: Any, part: str | int) -> Any:
    origin, args = get_origin(tp), get_args(tp)
    if origin is list and args and isinstance(part, int):
        return args[0]
    if origin is dict and len(args) == 2:
        return args[1]
    return Any


class _Located:
    """A pydantic error location read along the model classes: the user's path, the model
    holding its last key (for did-you-mean), and whether the error is about a map key."""

    def __init__(self, root: type[BaseModel], raw: tuple[str | int, ...]) -> None:
        self.loc: list[str | int] = []
        self.owner: type[BaseModel] | None = None
        self.key_error = False
        tp: Any = root
        for part in raw:
            tp = _unwrap(tp)
            if get_origin(tp) in (Union, types.UnionType):
                tp = _union_member(tp, part)  # a tag or label pydantic adds; not the user's
                continue
            if part == "[key]":
                self.key_error = True
                continue
            self.owner = None
            if _is_model(tp):
                self.owner = tp
                tp = _field_type(tp, part)
            else:
                tp = _child_type(tp, part)
            self.loc.append(part)


def _field_names(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _choice_message(err: ErrorDetails) -> str:
    expected = str((err.get("ctx") or {}).get("expected", ""))
    choices = re.findall(r"'([^']*)'", expected)
    given = err.get("input")
    hint = did_you_mean(given, choices) if isinstance(given, str) else ""
    return f"invalid value {_shown(given)}: expected one of {', '.join(choices)}{hint}"


_TYPE_MESSAGES = {
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "dict_type": "a mapping",
    "list_type": "a list",
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
}


def _bound_message(err: ErrorDetails) -> str | None:
    ctx = err.get("ctx") or {}
    match err["type"]:
        case "greater_than_equal":
            return f"must be at least {ctx.get('ge')}, got {_shown(err.get('input'))}"
        case "less_than_equal":
            return f"must be at most {ctx.get('le')}, got {_shown(err.get('input'))}"
        case "too_short":
            return f"needs at least {plural(int(ctx.get('min_length', 1)), 'item')}"
    return None


def _message(err: ErrorDetails, where: _Located) -> str:
    kind = err["type"]
    if kind == "extra_forbidden" and where.loc:
        key = str(where.loc[-1])
        names = _field_names(where.owner) if where.owner else []
        return f"unknown key '{key}'{did_you_mean(key, names)}"
    if kind == "missing" and where.loc:
        return f"required key '{where.loc[-1]}' is missing"
    if kind in ("enum", "literal_error"):
        text = _choice_message(err)
    elif kind in _TYPE_MESSAGES:
        text = f"expected {_TYPE_MESSAGES[kind]}, got {_kind(err.get('input'))}"
    else:
        text = _bound_message(err) or err["msg"]
        text = text.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return f"invalid key: {text}" if where.key_error else text


def _problems_of(exc: ValidationError, root: type[BaseModel], prefix: Loc) -> list[Problem]:
    problems: list[Problem] = []
    for err in exc.errors(include_url=False):
        where = _Located(root, tuple(err["loc"]))
        problems.append(Problem((*prefix, *where.loc), _message(err, where)))
    return problems


# ---------------------------------------------------------------------------------------------
# defaults


def _checked_defaults(data: dict[str, Any], problems: list[Problem]) -> dict[str, Any]:
    """Validate ``defaults`` on its own; return the raw entries that are fit to merge."""
    if "defaults" not in data:
        return {}
    raw = data["defaults"]
    found: list[Problem] = []
    try:
        StepDefaults.model_validate(raw)
    except ValidationError as exc:
        found.extend(_problems_of(exc, StepDefaults, ("defaults",)))
    if not isinstance(raw, dict):
        problems.extend(found)
        return {}
    for key, partial in DEFAULTABLE_SETTINGS.items():
        if isinstance(raw.get(key), dict):
            try:
                partial.model_validate(raw[key])
            except ValidationError as exc:
                found.extend(_problems_of(exc, partial, ("defaults", key)))
    problems.extend(found)
    bad = {p.loc[1] for p in found if len(p.loc) > 1}
    return {
        k: v for k, v in raw.items() if k in _DEFAULTED_FIELDS and k not in bad and v is not None
    }


def _deep_merge(base: Any, override: Any) -> Any:
    """``override`` on top of ``base``: maps merge key by key, anything else is replaced."""
    if not (isinstance(base, dict) and isinstance(override, dict)):
        return override
    merged = dict(base)
    for key, value in override.items():
        merged[key] = _deep_merge(base[key], value) if key in base else value
    return merged


def _merge_step(raw: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    step = dict(raw)
    for key, value in defaults.items():
        if key in SETTINGS_KEYS and raw.get("type") != key:
            continue  # ``defaults.shell`` is for shell steps only
        step[key] = _deep_merge(value, raw[key]) if key in raw else value
    return step


def _foreach_body(step: dict[str, Any]) -> list[Any] | None:
    settings = step.get("foreach")
    if step.get("type") == "foreach" and isinstance(settings, dict):
        body = settings.get("steps")
        if isinstance(body, list):
            return body
    return None


def _merge_level(
    steps: list[Any], defaults: dict[str, Any], loc: Loc, depth: int, problems: list[Problem]
) -> list[Any]:
    """Defaults merged into each step of a level and, recursively, of its foreach bodies."""
    merged: list[Any] = []
    for i, raw in enumerate(steps):
        if not isinstance(raw, dict):
            merged.append(raw)
            continue
        step = _merge_step(raw, defaults)
        body = _foreach_body(step)
        if body is not None:
            body_loc = (*loc, i, "foreach", "steps")
            if depth >= MAX_FOREACH_DEPTH:
                msg = f"foreach is nested more than {MAX_FOREACH_DEPTH} levels deep"
                problems.append(Problem(body_loc, msg))
            else:
                inner = _merge_level(body, defaults, body_loc, depth + 1, problems)
                step["foreach"] = {**step["foreach"], "steps": inner}
        merged.append(step)
    return merged


def _with_defaults(
    data: dict[str, Any], defaults: dict[str, Any], problems: list[Problem]
) -> dict[str, Any]:
    merged = dict(data)
    if isinstance(data.get("steps"), list):
        merged["steps"] = _merge_level(data["steps"], defaults, ("steps",), 0, problems)
    return merged


# ---------------------------------------------------------------------------------------------
# checks on the whole document


def _levels(steps: Any, loc: Loc, depth: int = 0) -> Iterator[tuple[list[Any], Loc]]:
    """Each DAG level: the top-level step list and every foreach body, with their paths."""
    if not isinstance(steps, list):
        return
    yield steps, loc
    if depth >= MAX_FOREACH_DEPTH:
        return
    for i, step in enumerate(steps):
        body = _foreach_body(step) if isinstance(step, dict) else None
        if body is not None:
            yield from _levels(body, (*loc, i, "foreach", "steps"), depth + 1)


def _node(index: int, step: Any) -> Node | None:
    if not isinstance(step, dict) or not isinstance(step.get("id"), str):
        return None
    deps = step.get("depends_on", [])
    deps = [deps] if isinstance(deps, str) else deps
    if not (isinstance(deps, list) and all(isinstance(d, str) for d in deps)):
        deps = []  # a type error there is reported by validation
    return Node(index, step["id"], tuple(deps))


def _dag_problems(merged: dict[str, Any]) -> list[Problem]:
    """DAG checks on every level, from the raw data so they run even when validation failed."""
    problems: list[Problem] = []
    for steps, loc in _levels(merged.get("steps"), ("steps",)):
        nodes = [n for i, s in enumerate(steps) if (n := _node(i, s)) is not None]
        problems.extend(check_nodes(nodes, loc))
    return problems


def _has_template(value: Any) -> bool:
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, dict):
        return any(_has_template(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_template(v) for v in value)
    return False


def _param_default_problems(params: Any) -> list[Problem]:
    """Defaults without templates must already be of their param's type."""
    if not isinstance(params, dict):
        return []
    problems: list[Problem] = []
    for name, spec in params.items():
        if not (isinstance(spec, dict) and "default" in spec) or _has_template(spec["default"]):
            continue
        ptype = spec.get("type", "string")
        if not (isinstance(ptype, str) and ptype in ParamType.__members__):
            continue
        try:
            coerce(name, ptype, spec["default"])
        except ParamError as exc:
            problems.extend(Problem(("params", name, "default"), p.msg) for p in exc.problems)
    return problems


# ---------------------------------------------------------------------------------------------
# expressions


class _ExpressionChecker:
    """Syntax checks of templates and bare expressions, through ``maestro.expressions``."""

    def __init__(
        self,
        check_template: Callable[[str], None],
        check_expression: Callable[[str], None],
        contains_template: Callable[[str], bool],
    ) -> None:
        self.check_template = check_template
        self.check_expression = check_expression
        self.contains_template = contains_template
        self.problems: list[Problem] = []

    def _run(self, check: Callable[[str], None], text: str, loc: Loc) -> None:
        try:
            check(text)
        except Exception as exc:  # ExpressionError, or anything a bad input provokes
            detail = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            self.problems.append(Problem(loc, str(detail)))

    def templates(self, value: Any, loc: Loc) -> None:
        """Check every templated string inside ``value``."""
        if isinstance(value, str):
            if self.contains_template(value):
                self._run(self.check_template, value, loc)
        elif isinstance(value, dict):
            for key, item in value.items():
                self.templates(item, (*loc, key))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                self.templates(item, (*loc, i))

    def expression(self, value: Any, loc: Loc) -> None:
        """``when`` and ``foreach.items``: a bare expression, or one written as ``{{ expr }}``."""
        if isinstance(value, str):
            whole = _WHOLE_TEMPLATE_RE.match(value)
            self._run(self.check_expression, whole["expr"] if whole else value, loc)

    def step(self, step: dict[str, Any], loc: Loc) -> None:
        for key in (*sorted(SETTINGS_KEYS - {"foreach"}), "env", "emit", "wait_for"):
            if key in step:
                self.templates(step[key], (*loc, key))
        if "when" in step:
            self.expression(step["when"], (*loc, "when"))
        settings = step.get("foreach")
        if isinstance(settings, dict) and "items" in settings:
            items = settings["items"]
            if isinstance(items, list):  # a literal list: its strings are templates
                self.templates(items, (*loc, "foreach", "items"))
            else:
                self.expression(items, (*loc, "foreach", "items"))

    def document(self, data: dict[str, Any]) -> None:
        params = data.get("params")
        if isinstance(params, dict):
            for name, spec in params.items():
                if isinstance(spec, dict) and "default" in spec:
                    self.templates(spec["default"], ("params", name, "default"))
        self.templates(data.get("outputs"), ("outputs",))
        triggers = data.get("triggers")
        if isinstance(triggers, list):
            for i, trigger in enumerate(triggers):
                if isinstance(trigger, dict) and "params" in trigger:
                    self.templates(trigger["params"], ("triggers", i, "params"))
        for steps, loc in _levels(data.get("steps"), ("steps",)):
            for i, step in enumerate(steps):
                if isinstance(step, dict):
                    self.step(step, (*loc, i))


def _expression_problems(merged: dict[str, Any]) -> list[Problem]:
    checker = _ExpressionChecker(check_template, check_expression, contains_template)
    checker.document(merged)
    return checker.problems


# ---------------------------------------------------------------------------------------------
# ordering


def _position(data: Any, loc: Loc) -> tuple[int, ...]:
    """Where ``loc`` appears in the document: key order in maps, index in lists."""
    out: list[int] = []
    node = data
    for part in loc:
        if isinstance(node, dict):
            keys = list(node)
            index = keys.index(part) if part in node else len(keys)
            out.append(index)
            node = node.get(part) if isinstance(part, str) else None
        elif isinstance(node, list) and isinstance(part, int):
            out.append(part)
            node = node[part] if 0 <= part < len(node) else None
        else:
            out.append(0)
            node = None
    return tuple(out)


def _ordered(problems: list[Problem], data: Any) -> list[Problem]:
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=lambda p: _position(data, p.loc))


# ---------------------------------------------------------------------------------------------
# public API


def _validated(merged: dict[str, Any], problems: list[Problem]) -> WorkflowDefinition | None:
    defaults_reported = any(p.loc[:1] == ("defaults",) for p in problems)
    try:
        return WorkflowDefinition.model_validate(merged)
    except ValidationError as exc:
        for problem in _problems_of(exc, WorkflowDefinition, ()):
            if not (defaults_reported and problem.loc[:1] == ("defaults",)):
                problems.append(problem)  # defaults problems were reported when checked alone
        return None


def _parse(data: Any, source: str | None) -> WorkflowDefinition:
    data = _normalize(data, source)
    if not isinstance(data, dict):
        msg = f"a workflow definition is a mapping at the top level, got {_kind(data)}"
        raise _fail(msg, source)
    problems: list[Problem] = []
    defaults = _checked_defaults(data, problems)
    merged = _with_defaults(data, defaults, problems)
    model = _validated(merged, problems)
    problems.extend(_dag_problems(merged))
    problems.extend(_expression_problems(merged))
    problems.extend(_param_default_problems(merged.get("params")))
    if model is None and not problems:  # cannot happen; never raise an empty error
        problems.append(Problem((), "the definition is invalid"))
    if problems or model is None:
        raise DefinitionError(_ordered(problems, merged), source)
    return model


def parse_definition(data: Any, *, source: str | None = None) -> WorkflowDefinition:
    """Validate already-parsed data (a dict from YAML or a JSON body) into a definition.

    Raises ``DefinitionError`` listing every problem, and only that.
    """
    try:
        return _parse(data, source)
    except DefinitionError:
        raise
    except Exception as exc:  # the contract: a bad document never raises anything else
        raise _fail(f"could not read the definition: {type(exc).__name__}: {exc}", source) from exc


def load_definition(text: str | bytes, *, source: str | None = None) -> WorkflowDefinition:
    """Read a definition from YAML or JSON text (at most 1 MiB). Raises ``DefinitionError``."""
    return parse_definition(_parse_yaml(_decode(text, source), source), source=source)


def definition_to_dict(defn: WorkflowDefinition) -> dict[str, Any]:
    """The normalized definition as JSON data: defaults merged, durations as ``1h30m``.

    Parsing it again gives an equal definition; it is what a version stores.
    """
    return defn.model_dump(mode="json", by_alias=True, exclude_defaults=False)


def content_hash(defn: WorkflowDefinition) -> str:
    """SHA-256 of the canonical JSON of the normalized definition: equal content, equal hash."""
    canonical = json.dumps(
        definition_to_dict(defn), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
