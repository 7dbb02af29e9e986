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
from collections.abc import Callable, Iterator
from typing import Any

from pydantic import ValidationError

from maestro.compat.maestro_json import is_maestro, translate
from maestro.definition.graph import Node, check_nodes, did_you_mean
from maestro.definition.models import (
    DEFAULTABLE_SETTINGS,
    ParamType,
    StepDefaults,
    WorkflowDefinition,
)
from maestro.definition.params import coerce
from maestro.definition.problems import _problems_of
from maestro.definition.step_params import is_typed
from maestro.definition.steps import SETTINGS_KEYS
from maestro.definition.yaml_input import (
    MAX_DEFINITION_BYTES,
    MAX_MAP_KEYS,
    MAX_NESTING,
    MAX_NODES,
    _decode,
    _fail,
    _kind,
    _normalize,
    _parse_yaml,
)
from maestro.errors import DefinitionError, Loc, ParamError, Problem
from maestro.expressions import check_expression, check_template, contains_template

#: deepest nesting of foreach bodies
MAX_FOREACH_DEPTH = 10

#: step fields that ``defaults`` may give (the type-settings keys apply to their type only)
_DEFAULTED_FIELDS = frozenset(StepDefaults.model_fields)
_WHOLE_TEMPLATE_RE = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\{\{|\}\}).)*)\}\}\s*$", re.DOTALL)


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


#: step types whose settings hold an inner DAG under ``steps``
BODY_TYPES = ("foreach", "while")
_BODY_KEYS = frozenset(BODY_TYPES)


def _body_key(step: dict[str, Any]) -> str | None:
    """``foreach`` or ``while`` for a step of that type (its settings key), else None."""
    kind = step.get("type")
    return kind if kind in BODY_TYPES else None


def _foreach_body(step: dict[str, Any]) -> list[Any] | None:
    """The inner DAG of a foreach or while step, as written."""
    key = _body_key(step)
    settings = step.get(key) if key else None
    if isinstance(settings, dict):
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
        key = _body_key(step)
        if body is not None and key is not None:
            body_loc = (*loc, i, key, "steps")
            if depth >= MAX_FOREACH_DEPTH:
                msg = f"{key} is nested more than {MAX_FOREACH_DEPTH} levels deep"
                problems.append(Problem(body_loc, msg))
            else:
                inner = _merge_level(body, defaults, body_loc, depth + 1, problems)
                step[key] = {**step[key], "steps": inner}
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
            yield from _levels(body, (*loc, i, _body_key(step) or "foreach", "steps"), depth + 1)


def _node(index: int, step: Any) -> Node | None:
    if not isinstance(step, dict) or not isinstance(step.get("id"), str):
        return None
    deps = step.get("depends_on", [])
    deps = [deps] if isinstance(deps, str) else deps
    if isinstance(deps, list):  # ``{step: x, if: ...}`` entries name their upstream by ``step``
        deps = [d.get("step") if isinstance(d, dict) else d for d in deps]
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


def _trigger_param_problems(merged: dict[str, Any]) -> list[Problem]:
    """A trigger's params must be declared, and those without templates of their type: else
    every run the trigger starts would be refused (a cron tick quietly, a backfill blaming
    its own request)."""
    declared, triggers = merged.get("params"), merged.get("triggers")
    declared = declared if isinstance(declared, dict) else {}
    problems: list[Problem] = []
    required = [
        n for n, spec in declared.items() if isinstance(spec, dict) and "default" not in spec
    ]
    for i, trigger in enumerate(triggers if isinstance(triggers, list) else []):
        given = trigger.get("params") if isinstance(trigger, dict) else None
        for name in required:
            if not (isinstance(given, dict) and name in given):
                msg = f"param '{name}' has no default and this trigger does not give it"
                problems.append(Problem(("triggers", i), f"{msg}: every run it starts is refused"))
        for name, value in given.items() if isinstance(given, dict) else ():
            loc: Loc = ("triggers", i, "params", name)
            spec = declared.get(name)
            if spec is None:
                problems.append(
                    Problem(loc, f"unknown param '{name}'{did_you_mean(name, declared)}")
                )
                continue
            ptype = spec.get("type", "string") if isinstance(spec, dict) else None
            if _has_template(value) or not (
                isinstance(ptype, str) and ptype in ParamType.__members__
            ):
                continue
            try:
                coerce(name, ptype, value)
            except ParamError as exc:
                problems.extend(Problem(loc, p.msg) for p in exc.problems)
    return problems


#: names a loop variable would hide in its body, breaking what reads them (``params.p``,
#: ``steps.a``, ``run.id``) or losing the item (``index`` is set after it); checked when a
#: definition is submitted, so versions stored before still load
RESERVED_LOOP_NAMES = ("params", "run", "steps", "index")


def _loop_name_problems(merged: dict[str, Any]) -> list[Problem]:
    """A foreach's ``as`` and ``matrix`` names and a while's ``loop`` names are not reserved."""
    problems: list[Problem] = []
    for steps, loc in _levels(merged.get("steps"), ("steps",)):
        for i, step in enumerate(steps):
            if not isinstance(step, dict):
                continue
            places: list[tuple[Loc, Any]] = []
            foreach, loop = step.get("foreach"), step.get("while")
            if isinstance(foreach, dict):
                places.append(((*loc, i, "foreach", "as"), foreach.get("as")))
                matrix = foreach.get("matrix")
                if isinstance(matrix, dict):
                    places += [((*loc, i, "foreach", "matrix", k), k) for k in matrix]
            if isinstance(loop, dict) and isinstance(loop.get("loop"), dict):
                places += [((*loc, i, "while", "loop", k), k) for k in loop["loop"]]
            for place, name in places:
                if name in RESERVED_LOOP_NAMES:
                    reserved = ", ".join(RESERVED_LOOP_NAMES)
                    msg = f"{name!r} is a name the body's expressions use ({reserved})"
                    problems.append(Problem(place, f"{msg}: a loop variable needs another"))
    return problems


def _step_param_problems(merged: dict[str, Any]) -> list[Problem]:
    """A typed step param's literal value (no template) must be of its type: checked when the
    definition is submitted, not when the step is about to run."""
    problems: list[Problem] = []
    for steps, loc in _levels(merged.get("steps"), ("steps",)):
        for i, step in enumerate(steps):
            params = step.get("params") if isinstance(step, dict) else None
            for name, raw in params.items() if isinstance(params, dict) else ():
                if not is_typed(raw) or raw["value"] is None or _has_template(raw["value"]):
                    continue
                ptype = raw.get("type", "string")
                if not (isinstance(ptype, str) and ptype in ParamType.__members__):
                    continue  # the model names a bad type
                try:
                    coerce(name, ptype, raw["value"])
                except ParamError as exc:
                    place: Loc = (*loc, i, "params", name, "value")
                    problems.extend(Problem(place, p.msg) for p in exc.problems)
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
        keys = (*sorted(SETTINGS_KEYS - _BODY_KEYS), "env", "emit", "wait_for", "alerts")
        for key in (*keys, "timeout"):
            if key in step:
                self.templates(step[key], (*loc, key))
        if "when" in step:
            self.expression(step["when"], (*loc, "when"))
        if "params" in step:
            self.templates(step["params"], (*loc, "params"))
        deps = step.get("depends_on")
        for k, entry in enumerate(deps if isinstance(deps, list) else []):
            if isinstance(entry, dict) and "if" in entry:
                self.expression(entry["if"], (*loc, "depends_on", k, "if"))
        self._foreach(step.get("foreach"), (*loc, "foreach"))
        self._while(step.get("while"), (*loc, "while"))

    def _foreach(self, settings: Any, loc: Loc) -> None:
        if not isinstance(settings, dict):
            return
        if "items" in settings:
            self._items(settings["items"], (*loc, "items"))
        matrix = settings.get("matrix")
        if isinstance(matrix, dict):
            for name, source in matrix.items():
                self._items(source, (*loc, "matrix", name))

    def _while(self, loop: Any, loc: Loc) -> None:
        if not isinstance(loop, dict):
            return
        if "condition" in loop:
            self.expression(loop["condition"], (*loc, "condition"))
        for part in ("loop", "update"):
            self.templates(loop.get(part), (*loc, part))

    def _items(self, items: Any, loc: Loc) -> None:
        if isinstance(items, list):  # a literal list: its strings are templates
            self.templates(items, loc)
        else:
            self.expression(items, loc)

    def document(self, data: dict[str, Any]) -> None:
        params = data.get("params")
        if isinstance(params, dict):
            for name, spec in params.items():
                if isinstance(spec, dict) and "default" in spec:
                    self.templates(spec["default"], ("params", name, "default"))
        self.templates(data.get("outputs"), ("outputs",))
        self.templates(data.get("alerts"), ("alerts",))
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


def _from_maestro(data: Any, source: str | None) -> Any:
    """A Netflix Maestro JSON definition (a top-level ``workflow`` object) translated to ours;
    one that is not importable fails naming its JSON paths (docs/maestro.md)."""
    if not is_maestro(data):
        return data
    translated, report = translate(data, source or "")
    if report.reasons:
        problems = [
            Problem((path,), f"not importable from Maestro: {msg}") for path, msg in report.reasons
        ]
        raise DefinitionError(problems, source)
    return translated


def _parse(data: Any, source: str | None) -> WorkflowDefinition:
    data = _from_maestro(_normalize(data, source), source)
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
    problems.extend(_trigger_param_problems(merged))
    problems.extend(_step_param_problems(merged))
    problems.extend(_loop_name_problems(merged))
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


#: the limits of what a definition may be (re-exported: tests and docs name them here)
__all__ = [
    "MAX_DEFINITION_BYTES",
    "MAX_FOREACH_DEPTH",
    "MAX_MAP_KEYS",
    "MAX_NESTING",
    "MAX_NODES",
    "content_hash",
    "definition_to_dict",
    "load_definition",
    "parse_definition",
]
