"""Run params: merge order, unknown and missing params, and coercion to declared types."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from maestro.definition import ParamSpec, resolve_params
from maestro.definition.models import ParamType
from maestro.definition.params import coerce
from maestro.errors import ParamError


def _identity(value: Any) -> Any:
    return value


def _specs(**kwargs: dict[str, Any]) -> dict[str, ParamSpec]:
    return {name: ParamSpec.model_validate(raw) for name, raw in kwargs.items()}


# --- coercion -------------------------------------------------------------------------------

PLUS_TWO = timezone(timedelta(hours=2))


@pytest.mark.parametrize(
    ("ptype", "value", "expected"),
    [
        ("string", "x", "x"),
        ("string", 5, "5"),
        ("string", 1.5, "1.5"),
        ("string", True, "true"),
        ("string", date(2024, 5, 1), "2024-05-01"),
        ("int", 5, 5),
        ("int", "42", 42),
        ("int", " -7 ", -7),
        ("int", "+3", 3),
        ("int", 2.0, 2),
        ("float", 1, 1.0),
        ("float", "2.5", 2.5),
        ("float", 0.25, 0.25),
        ("bool", True, True),
        ("bool", False, False),
        ("bool", "true", True),
        ("bool", "YES", True),
        ("bool", "On", True),
        ("bool", "1", True),
        ("bool", 1, True),
        ("bool", "false", False),
        ("bool", "No", False),
        ("bool", "off", False),
        ("bool", "0", False),
        ("bool", 0, False),
        ("date", "2024-05-01", "2024-05-01"),
        ("date", date(2024, 5, 1), "2024-05-01"),
        ("date", datetime(2024, 5, 1, 23, 30), "2024-05-01"),
        ("date", "2024-05-01T03:00:00+02:00", "2024-05-01"),
        ("datetime", "2024-05-01T03:00:00Z", "2024-05-01T03:00:00+00:00"),
        ("datetime", "2024-05-01T03:00:00", "2024-05-01T03:00:00+00:00"),
        ("datetime", "2024-05-01T03:00:00+02:00", "2024-05-01T03:00:00+02:00"),
        ("datetime", datetime(2024, 5, 1, 3), "2024-05-01T03:00:00+00:00"),
        ("datetime", datetime(2024, 5, 1, 3, tzinfo=PLUS_TWO), "2024-05-01T03:00:00+02:00"),
        ("datetime", date(2024, 5, 1), "2024-05-01T00:00:00+00:00"),
        ("list", ["a", 1], ["a", 1]),
        ("list", ("a", "b"), ["a", "b"]),
        ("list", '["a", 2]', ["a", 2]),
        ("map", {"k": [1, 2]}, {"k": [1, 2]}),
        ("map", '{"k": 1}', {"k": 1}),
        ("int", None, None),
        ("map", None, None),
    ],
)
def test_coerce_converts_to_the_declared_type(ptype: str, value: Any, expected: Any) -> None:
    result = coerce("p", ptype, value)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("ptype", "value", "fragment"),
    [
        ("string", ["a"], "expected a string"),
        ("int", True, "not a boolean"),
        ("int", 1.5, "expected an integer"),
        ("int", "1.5", "expected an integer"),
        ("int", "ten", "expected an integer"),
        ("int", "", "expected an integer"),
        ("float", False, "not a boolean"),
        ("float", "abc", "expected a finite number"),
        ("float", "nan", "expected a finite number"),
        ("float", float("inf"), "expected a finite number"),
        ("bool", "maybe", "expected a boolean"),
        ("bool", 2, "expected a boolean"),
        ("date", "2024-13-01", "expected a date"),
        ("date", 20240501, "expected a date"),
        ("datetime", "yesterday", "ISO 8601"),
        ("datetime", 5, "ISO 8601"),
        ("list", "a,b", "expected a list"),
        ("list", '{"a": 1}', "expected a list"),
        ("list", {"a": 1}, "expected a list"),
        ("list", [{1, 2}], "JSON values"),
        ("map", "[1]", "expected a map"),
        ("map", [1], "expected a map"),
        ("map", {1: "x"}, "string keys"),
    ],
)
def test_coerce_errors_name_the_param(ptype: str, value: Any, fragment: str) -> None:
    with pytest.raises(ParamError) as info:
        coerce("size", ptype, value)
    (problem,) = info.value.problems
    assert problem.loc == ("params", "size")
    assert problem.msg.startswith(f"param 'size' ({ptype}): ")
    assert fragment in problem.msg


def test_coerce_error_message_is_complete() -> None:
    with pytest.raises(ParamError) as info:
        coerce("n", ParamType.int, "ten")
    assert str(info.value) == "params.n: param 'n' (int): expected an integer, got 'ten'"


def test_coerce_refuses_an_unknown_type() -> None:
    with pytest.raises(ParamError, match="unknown param type 'decimal'"):
        coerce("n", "decimal", "1")


# --- resolution -----------------------------------------------------------------------------


def test_defaults_are_rendered_and_coerced() -> None:
    specs = _specs(ds={"type": "date", "default": "{{ ds }}"}, n={"type": "int", "default": "3"})

    def render(value: Any) -> Any:
        return "2024-05-01" if value == "{{ ds }}" else value

    assert resolve_params(specs, [], render) == {"ds": "2024-05-01", "n": 3}


def test_later_layers_win() -> None:
    specs = _specs(a={"default": "d"}, b={"default": "d"}, c={"default": "d"})
    layers: list[Mapping[str, Any]] = [{"a": "trigger", "b": "trigger"}, {"b": "start"}]
    assert resolve_params(specs, layers, _identity) == {"a": "trigger", "b": "start", "c": "d"}


def test_a_default_that_is_overridden_is_not_rendered() -> None:
    specs = _specs(ds={"type": "date", "default": "{{ signal.ds }}"})

    def render(value: Any) -> Any:
        raise AssertionError("must not be called")

    assert resolve_params(specs, [{"ds": "2024-01-02"}], render) == {"ds": "2024-01-02"}


def test_unknown_param_suggests_a_close_name() -> None:
    specs = _specs(food={"default": "x"})
    with pytest.raises(ParamError) as info:
        resolve_params(specs, [{"foo": 1}], _identity)
    assert [str(p) for p in info.value.problems] == [
        "params.foo: unknown param 'foo' — did you mean 'food'?"
    ]


def test_unknown_param_without_a_close_name() -> None:
    with pytest.raises(ParamError) as info:
        resolve_params(_specs(food={"default": "x"}), [{"zzz": 1}], _identity)
    assert str(info.value) == "params.zzz: unknown param 'zzz'"


def test_required_param_missing() -> None:
    specs = _specs(ds={"type": "date"})
    assert specs["ds"].required
    with pytest.raises(ParamError) as info:
        resolve_params(specs, [{}], _identity)
    assert str(info.value) == "params.ds: required param 'ds' is missing"


def test_required_param_given_by_a_layer() -> None:
    specs = _specs(ds={"type": "date"})
    assert resolve_params(specs, [{"ds": date(2024, 1, 2)}], _identity) == {"ds": "2024-01-02"}


def test_a_required_param_given_null_is_refused_and_null_replaces_a_default() -> None:
    specs = _specs(n={"type": "int"}, limit={"type": "int", "default": 5})
    with pytest.raises(ParamError) as info:
        resolve_params(specs, [{"n": None}], _identity)
    assert str(info.value) == "params.n: required param 'n' is null"
    # a later layer's null for a required param is refused too; a default's null is no value
    with pytest.raises(ParamError):
        resolve_params(specs, [{"n": 1}, {"n": None}], _identity)
    assert resolve_params(specs, [{"n": 1, "limit": None}], _identity) == {"n": 1, "limit": None}


def test_explicit_null_default_is_optional() -> None:
    specs = _specs(limit={"type": "int", "default": None})
    assert not specs["limit"].required
    assert resolve_params(specs, [], _identity) == {"limit": None}


def test_render_failure_is_a_param_error_naming_the_param() -> None:
    specs = _specs(ds={"type": "date", "default": "{{ boom }}"})

    def render(value: Any) -> Any:
        raise RuntimeError("undefined variable boom")

    with pytest.raises(ParamError) as info:
        resolve_params(specs, [], render)
    assert str(info.value) == "params.ds: default of param 'ds': undefined variable boom"


def test_all_problems_are_collected_in_one_error() -> None:
    specs = _specs(
        n={"type": "int"},
        f={"type": "float", "default": "x"},
        b={"type": "bool", "default": True},
    )
    with pytest.raises(ParamError) as info:
        resolve_params(specs, [{"bogus": 1, "b": "perhaps"}], _identity)
    locs = [p.loc for p in info.value.problems]
    assert locs == [("params", "bogus"), ("params", "n"), ("params", "f"), ("params", "b")]


def test_results_are_json_ready() -> None:
    specs = _specs(
        when={"type": "datetime", "default": datetime(2024, 5, 1, tzinfo=UTC)},
        tables={"type": "list", "default": ["a"]},
    )
    result = resolve_params(specs, [], _identity)
    assert result == {"when": "2024-05-01T00:00:00+00:00", "tables": ["a"]}
