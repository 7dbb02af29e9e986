"""Pydantic's validation errors as ``Problem``s a person can act on: located by YAML path, worded
by what was expected (with "did you mean" for near-miss keys and choices)."""

from __future__ import annotations

import re
import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, Tag, ValidationError
from pydantic_core import ErrorDetails

from maestro.definition.graph import did_you_mean
from maestro.definition.yaml_input import _kind
from maestro.errors import Loc, Problem
from maestro.wording import plural

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
