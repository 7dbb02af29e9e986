"""Tests for maestro.expressions: native rendering, filters, sandboxing, limits and errors."""

from __future__ import annotations

import json
import resource
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from maestro import expression_deadline, expressions
from maestro.errors import ExpressionError
from maestro.expressions import (
    MAX_VALUE_BYTES,
    check_expression,
    check_template,
    contains_template,
    evaluate,
    evaluate_condition,
    render,
)

LOGICAL = datetime(2024, 3, 1, 3, 0, tzinfo=UTC)


@pytest.fixture
def ctx() -> dict[str, Any]:
    return {
        "params": {"ds": "2024-03-01", "tables": ["plays", "ratings"], "n": 3, "flag": True},
        "run": {"id": 7, "logical_date": LOGICAL, "trigger": "cron"},
        "steps": {
            "extract": {"status": "SUCCEEDED", "outputs": {"rowcount": 5, "rows": [{"a": 1}]}},
            "empty": {"status": "SUCCEEDED", "outputs": {"rowcount": 0}},
        },
        "signal": {},
    }


def error_of(source: str, context: Mapping[str, Any]) -> ExpressionError:
    with pytest.raises(ExpressionError) as info:
        render(source, context)
    return info.value


class CountingMapping(Mapping[str, Any]):
    """A lazy mapping (like the engine's StepsView) that records how it is used."""

    def __init__(self, data: dict[str, Any], fail_on: str | None = None) -> None:
        self._data = data
        self._fail_on = fail_on
        self.lookups: list[str] = []
        self.iterations = 0

    def __getitem__(self, key: str) -> Any:
        self.lookups.append(key)
        if key == self._fail_on:
            raise RuntimeError("database is down")
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        self.iterations += 1
        return iter(self._data)

    def __len__(self) -> int:
        self.iterations += 1
        return len(self._data)


# --- contains_template and the fast path -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("{{ x }}", True), ("a {% if x %}b{% endif %}", True), ("plain", False), ("{# c #}", False)],
)
def test_contains_template(text: str, expected: bool) -> None:
    assert contains_template(text) is expected


def test_plain_strings_are_returned_unchanged_without_compiling(ctx: dict[str, Any]) -> None:
    before = expressions._compile_template.cache_info()
    text = "no markup here {# not a comment either #} } {"
    assert render(text, ctx) is text
    after = expressions._compile_template.cache_info()
    assert (after.hits, after.misses) == (before.hits, before.misses)


@pytest.mark.parametrize("value", [1, 2.5, None, True, b"{{ x }}"])
def test_non_string_scalars_pass_through(value: Any, ctx: dict[str, Any]) -> None:
    assert render(value, ctx) is value


# --- native rendering ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ params.tables }}", ["plays", "ratings"]),
        ("{{ params.n }}", 3),
        ("{{ params.n + 1 }}", 4),
        ("{{ params.flag }}", True),
        ("{{ none }}", None),
        ("{{ {'a': {'b': 1}} }}", {"a": {"b": 1}}),
        ("{{ steps.extract.outputs }}", {"rowcount": 5, "rows": [{"a": 1}]}),
        ("  {{ params.n }}\n", 3),
        ("{{- params.n -}}", 3),
        ("{{ '123' }}", "123"),
        ("{{ '}}' }}", "}}"),
        ("{{ (1, 2) }}", (1, 2)),
        ("{{ 1.5 }}", 1.5),
    ],
)
def test_a_single_expression_renders_to_its_native_value(
    source: str, expected: Any, ctx: dict[str, Any]
) -> None:
    result = render(source, ctx)
    assert result == expected
    assert type(result) is type(expected)


def test_native_iterators_become_lists(ctx: dict[str, Any]) -> None:
    assert render("{{ params.tables | reject('eq', 'plays') }}", ctx) == ["ratings"]
    assert render("{{ params.tables | map('upper') }}", ctx) == ["PLAYS", "RATINGS"]
    assert render("{{ range(3) }}", ctx) == [0, 1, 2]


def test_native_markup_becomes_a_plain_string(ctx: dict[str, Any]) -> None:
    result = render("{{ 'x' | safe }}", ctx)
    assert result == "x"
    assert type(result) is str


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("ds={{ params.ds }}", "ds=2024-03-01"),
        ("{{ params.n }}{{ params.n }}", "33"),
        ("{{ params.n }}.", "3."),
        ("echo {{ params.tables | join(',') }}\n", "echo plays,ratings\n"),
        ("{% for t in params.tables %}{{ t }};{% endfor %}", "plays;ratings;"),
        ("{% if params.flag %}{{ params.n }}{% endif %}", "3"),
        ("{{ params.tables }} x", "['plays', 'ratings'] x"),
    ],
)
def test_other_templates_render_to_strings(source: str, expected: str, ctx: dict[str, Any]) -> None:
    assert render(source, ctx) == expected


def test_nested_structures_render_recursively_and_keep_keys(ctx: dict[str, Any]) -> None:
    value = {
        "{{ params.ds }}": "{{ params.ds }}",
        "args": ["--ds", "{{ params.ds }}", ("{{ params.n }}", 1)],
        "conf": {"n": "{{ params.n }}", "plain": "x", "none": None},
    }
    assert render(value, ctx) == {
        "{{ params.ds }}": "2024-03-01",
        "args": ["--ds", "2024-03-01", (3, 1)],
        "conf": {"n": 3, "plain": "x", "none": None},
    }


def test_an_error_in_a_nested_value_names_that_string(ctx: dict[str, Any]) -> None:
    with pytest.raises(ExpressionError) as info:
        render({"a": ["ok", "{{ params.nope }}"]}, ctx)
    assert info.value.expression == "{{ params.nope }}"


# --- filters ------------------------------------------------------------------------------------

DATE_INPUTS = [
    date(2024, 3, 1),
    datetime(2024, 3, 1, 3, 0, tzinfo=UTC),
    "2024-03-01",
    "2024-03-01T03:00:00+00:00",
    "2024-03-01T03:00:00Z",
]


@pytest.mark.parametrize("value", DATE_INPUTS)
def test_ds_and_ds_nodash(value: Any) -> None:
    assert render("{{ d | ds }}", {"d": value}) == "2024-03-01"
    assert render("{{ d | ds_nodash }}", {"d": value}) == "20240301"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (date(2024, 3, 1), "2024-03-01T00:00:00"),
        (datetime(2024, 3, 1, 3, 0, tzinfo=UTC), "2024-03-01T03:00:00+00:00"),
        ("2024-03-01", "2024-03-01T00:00:00"),
        ("2024-03-01T03:00:00Z", "2024-03-01T03:00:00+00:00"),
    ],
)
def test_ts(value: Any, expected: str) -> None:
    assert render("{{ d | ts }}", {"d": value}) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (date(2024, 3, 1), date(2024, 2, 29)),
        ("2024-03-01", date(2024, 2, 29)),
        (LOGICAL, datetime(2024, 2, 29, 3, 0, tzinfo=UTC)),
        ("2024-03-01T03:00:00Z", datetime(2024, 2, 29, 3, 0, tzinfo=UTC)),
    ],
)
def test_add_days_keeps_dates_dates_and_datetimes_datetimes(value: Any, expected: date) -> None:
    result = render("{{ d | add_days(-1) }}", {"d": value})
    assert result == expected
    assert type(result) is type(expected)


def test_add_days_chains_with_ds(ctx: dict[str, Any]) -> None:
    assert render("{{ run.logical_date | add_days(1) | ds }}", ctx) == "2024-03-02"
    assert render("{{ params.ds | add_days(params.n) | ds_nodash }}", ctx) == "20240304"


def test_add_days_refuses_fractional_days_on_a_date() -> None:
    with pytest.raises(ExpressionError, match="whole number"):
        render("{{ d | add_days(0.5) }}", {"d": date(2024, 3, 1)})
    assert render("{{ d | add_days(0.5) }}", {"d": LOGICAL}) == LOGICAL + timedelta(hours=12)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (date(2024, 3, 1), datetime(2024, 3, 1, 5, 0)),
        ("2024-03-01", datetime(2024, 3, 1, 5, 0)),
        (LOGICAL, datetime(2024, 3, 1, 8, 0, tzinfo=UTC)),
        ("2024-03-01T03:00:00Z", datetime(2024, 3, 1, 8, 0, tzinfo=UTC)),
    ],
)
def test_add_hours_returns_a_datetime(value: Any, expected: datetime) -> None:
    result = render("{{ d | add_hours(5) }}", {"d": value})
    assert result == expected
    assert isinstance(result, datetime)


@pytest.mark.parametrize("value", DATE_INPUTS)
def test_strftime_and_to_date(value: Any) -> None:
    assert render("{{ d | strftime('%Y/%m/%d') }}", {"d": value}) == "2024/03/01"
    result = render("{{ d | to_date }}", {"d": value})
    assert result == date(2024, 3, 1)
    assert type(result) is date


def test_tojson_is_real_json_with_iso_dates(ctx: dict[str, Any]) -> None:
    context = {**ctx, "v": {"when": LOGICAL, "day": date(2024, 3, 1), "s": "<a href='x'>&</a>"}}
    text = render("{{ v | tojson }}", context)
    assert isinstance(text, str)
    assert json.loads(text) == {
        "when": "2024-03-01T03:00:00+00:00",
        "day": "2024-03-01",
        "s": "<a href='x'>&</a>",
    }
    assert "<a href='x'>" in text  # not HTML-escaped like Jinja's own tojson


def test_tojson_of_a_lazy_mapping_and_indent() -> None:
    lazy = CountingMapping({"a": 1})
    assert json.loads(render("{{ m | tojson(indent=2) }}", {"m": lazy})) == {"a": 1}
    assert "\n" in render("{{ m | tojson(indent=2) }}", {"m": {"a": 1}})


def test_tojson_refuses_what_json_cannot_hold() -> None:
    with pytest.raises(ExpressionError, match="cannot be written as JSON"):
        render("{{ v | tojson }}", {"v": object()})
    with pytest.raises(ExpressionError, match="JSON"):
        render("{{ v | tojson }}", {"v": float("nan")})


def test_fromjson(ctx: dict[str, Any]) -> None:
    assert render("""{{ '{"a": [1, 2]}' | fromjson }}""", ctx) == {"a": [1, 2]}
    assert render("""{{ ('{"a": [1, 2]}' | fromjson).a[1] }}""", ctx) == 2
    with pytest.raises(ExpressionError, match="fromjson: invalid JSON"):
        render("{{ 'nope' | fromjson }}", ctx)
    with pytest.raises(ExpressionError, match="expected a JSON string"):
        render("{{ 3 | fromjson }}", ctx)


@pytest.mark.parametrize("name", ["ds", "ds_nodash", "ts", "to_date", "add_days(1)"])
def test_date_filters_reject_non_dates(name: str) -> None:
    with pytest.raises(ExpressionError, match="is not an ISO date"):
        render("{{ 'yesterday' | " + name + " }}", {})
    with pytest.raises(ExpressionError, match="expected a date"):
        render("{{ 3 | " + name + " }}", {})


def test_date_filters_report_undefined_input(ctx: dict[str, Any]) -> None:
    err = error_of("{{ run.logical_dat | ds }}", ctx)
    assert "'run' has no attribute 'logical_dat'" in err.detail


# --- evaluate and conditions --------------------------------------------------------------------


def test_when_style_conditions(ctx: dict[str, Any]) -> None:
    assert evaluate_condition("steps.extract.outputs.rowcount > 0", ctx) is True
    assert evaluate_condition("steps.empty.outputs.rowcount > 0", ctx) is False
    assert evaluate_condition("{{ steps.extract.outputs.rowcount > 0 }}", ctx) is True
    assert evaluate_condition("params.tables | select('eq', 'nope')", ctx) is False
    assert evaluate_condition("steps.extract.status == 'SUCCEEDED'", ctx) is True


def test_evaluate_returns_native_values(ctx: dict[str, Any]) -> None:
    assert evaluate("params.tables", ctx) == ["plays", "ratings"]
    assert evaluate("{{ params.tables }}", ctx) == ["plays", "ratings"]
    assert evaluate("params.n * 2", ctx) == 6
    assert evaluate("params.tables | map('upper')", ctx) == ["PLAYS", "RATINGS"]


def test_evaluate_refuses_text_around_braces_and_empty_expressions(ctx: dict[str, Any]) -> None:
    with pytest.raises(ExpressionError, match="expected one expression"):
        evaluate("{{ params.n }} > 1", ctx)
    with pytest.raises(ExpressionError, match="empty expression"):
        evaluate("  ", ctx)


def test_a_condition_on_a_missing_output_is_an_error(ctx: dict[str, Any]) -> None:
    with pytest.raises(ExpressionError) as info:
        evaluate_condition("steps.extract.outputs.rowcnt > 0", ctx)
    assert info.value.expression == "steps.extract.outputs.rowcnt > 0"
    assert "'steps.extract.outputs' has no attribute 'rowcnt'" in info.value.detail
    assert "did you mean 'rowcount'" in info.value.detail


# --- strict undefined ---------------------------------------------------------------------------


def test_an_unknown_name_is_named(ctx: dict[str, Any]) -> None:
    err = error_of("{{ parms.ds }}", ctx)
    assert err.detail.startswith("undefined name 'parms'")
    assert "did you mean 'params'" in err.detail
    assert err.expression == "{{ parms.ds }}"


def test_a_missing_attribute_names_its_owner(ctx: dict[str, Any]) -> None:
    err = error_of("x {{ steps.load.outputs }}", ctx)
    assert err.detail.startswith("'steps' has no attribute 'load'")
    assert "extract" in err.detail  # the keys a plain dict has


def test_a_missing_key_names_its_owner(ctx: dict[str, Any]) -> None:
    err = error_of("{{ params['zz'] }}", ctx)
    assert err.detail.startswith("'params' has no key 'zz'")
    assert "ds, flag, n, tables" in err.detail


def test_undefined_inside_a_native_value_is_an_error(ctx: dict[str, Any]) -> None:
    assert "'params' has no attribute 'nope'" in error_of("{{ [params.nope] }}", ctx).detail
    with pytest.raises(ExpressionError, match="nope"):
        evaluate("params.nope", ctx)


def test_undefined_is_allowed_where_jinja_tests_for_it(ctx: dict[str, Any]) -> None:
    assert render("{{ params.nope is defined }}", ctx) is False
    assert render("{{ params.nope | default('d') }}", ctx) == "d"


def test_ambiguous_owners_fall_back_to_the_type(ctx: dict[str, Any]) -> None:
    context = {**ctx, "a": {}, "b": {"x": 1}}
    err = error_of("{{ b.x }}{{ a.x }}", context)
    assert "'dict object' has no attribute 'x'" in err.detail


# --- sandbox ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ lipsum.__globals__ }}",
        "{{ joiner.__init__.__globals__.os }}",
        "{{ params.__class__ }}",
        "{{ {}.__class__ }}",
        "{{ params['__class__'] }}",
        "{{ t.mro() }}",
        "{{ t.__subclasses__() }}",
        "{{ f.__globals__ }}",
        "{{ f.func_globals }}",
        "{{ params.tables.append('x') }}",
        "{{ params.update({'x': 1}) }}",
        "{{ '{0.__class__}'.format(1) }}",
    ],
)
def test_sandbox_blocks_escapes(source: str, ctx: dict[str, Any]) -> None:
    context = {**ctx, "t": int, "f": test_sandbox_blocks_escapes}
    err = error_of(source, context)
    assert err.detail.startswith(("not allowed:", "'", "undefined"))
    assert ctx["params"]["tables"] == ["plays", "ratings"]


def test_unsafe_attributes_are_reported_as_not_allowed(ctx: dict[str, Any]) -> None:
    err = error_of("{{ ''.__class__ }}", ctx)
    assert err.detail == "not allowed: access to attribute '__class__' of 'str' object is unsafe."
    err = error_of("{{ t.mro() }}", {"t": int})
    assert err.detail.startswith("not allowed: access to attribute 'mro'")


def test_huge_ranges_are_refused(ctx: dict[str, Any]) -> None:
    started = time.monotonic()
    err = error_of("{{ range(10**9) | list }}", ctx)
    assert "Range too big" in err.detail
    assert time.monotonic() - started < 2


# --- resource limits ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "refused_by"),
    [
        ("{{ 'a' * 10**8 }}", "the result of '*'"),
        ("{{ 10**8 * 'a' }}", "the result of '*'"),
        ("{{ [1] * 10**8 }}", "the result of '*'"),
        ("{{ ['x' * 1000] * 2000 }}", "the result of '*'"),
        ("{{ 9 ** (9 ** 9) }}", "the result of '**'"),
        ("{{ 10 ** 1000000 }}", "the result of '**'"),
        ("{{ (2 ** 40000) * (2 ** 40000) }}", "the result of '*'"),
        ("{{ '%999999999d' % 1 }}", "a '%' field width"),
        ("{{ '%*d' % (999999999, 1) }}", "a field width"),
        ("{{ '{:>999999999}'.format(1) }}", "a format() field width"),
        ("{{ '{:>{}}'.format(1, 999999999) }}", "a field width"),
        ("{{ '%999999999d' | format(1) }}", "a '%' field width"),
        ("{{ 'a' | center(10**9) }}", "the center filter"),
        ("{{ 'a' | indent(10**9) }}", "the indent filter"),
        ("{{ 'x'.ljust(10**9) }}", "ljust()"),
        ("{{ 'x'.zfill(10**9) }}", "zfill()"),
        ("{{ 'x\ty'.expandtabs(10**9) }}", "expandtabs()"),
        ("{{ ('a' * 1000).replace('a', 'b' * 2000) }}", "replace()"),
        ("{{ ('a' * 1000) | replace('a', 'b' * 2000) }}", "the replace filter"),
        ("{{ ('ab' * 500) | wordwrap(1, true, 'x' * 5000) }}", "the wordwrap filter"),
        ("{{ [1] | batch(10**9, 0) | list }}", "the batch filter"),
        ("{{ [1] | slice(10**9) | list }}", "the slice filter"),
        ("{{ lipsum(10**6) }}", "lipsum()"),
        ("{{ ('x' * 1000000, 'y') | join('z' * 100000) }}", "the join filter"),
        ("{{ ','.join(['x', 'y'] | map('center', 600000)) }}", "join()"),
        ("{{ ','.join(['x' * 600000, 'y' * 600000]) }}", "the literal"),
        ("{{ " + " ~ ".join(["('a' * 1000000)"] * 1000) + " }}", "the result of '~'"),
        ("{{ " + " ~ ".join(["[('a' * 600000)]"] * 10) + " }}", "the result of '~'"),
        ("{{ [" + ", ".join(["('a' * 1000000)"] * 1000) + "] }}", "the literal"),
        ("{{ (" + ", ".join(["('a' * 1000000)"] * 1000) + ") }}", "the literal"),
        ("{{ {" + ", ".join(f"{i}: 'a' * 1000000" for i in range(1000)) + "} }}", "the literal"),
        (
            "{% set ns = namespace(s='ab') %}{% for i in range(40) %}"
            "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}",
            "the result of '~'",
        ),
        (
            "{% set ns = namespace(l=[]) %}{% for i in range(1000) %}"
            "{% set ns.l = ns.l + [('a' * 1000000) ~ i] %}{% endfor %}{{ ns.l | length }}",
            "the result of '+'",
        ),
        ("{{ ','.join(range(2000) | map('string') | map('center', 1000)) }}", "join()"),
        ("{{ ['x', 'y'] | map('center', 600000) | join }}", "the join filter"),
    ],
)
def test_resource_abuse_is_refused_quickly(
    source: str, refused_by: str, ctx: dict[str, Any]
) -> None:
    started = time.monotonic()
    err = error_of(source, ctx)
    assert refused_by in err.detail
    assert "too large" in err.detail
    assert time.monotonic() - started < 2


def test_the_operands_of_a_tilde_chain_never_coexist_past_the_limit() -> None:
    """Each operand of ``~`` is within the limit; all 1,000 of them at once would be 1 GB."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    source = " ~ ".join(["('a' * 1000000)"] * 1000)
    with pytest.raises(ExpressionError, match="over the 1048576-byte limit"):
        evaluate(source, {})
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 100 * 1024


def test_loops_are_bounded_in_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(expression_deadline, "MAX_RENDER_SECONDS", 0.3)
    started = time.monotonic()
    with pytest.raises(ExpressionError, match=r"over the 0\.3-second limit"):
        render(
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", {}
        )
    assert time.monotonic() - started < 2


def test_literals_and_tilde_still_work() -> None:
    source = (
        "{% for a, b in [(1, 2), (3, 4)] %}{{ a }}{{ b }}{% endfor %}"
        "{{ (1,) }}{{ {'k': [1, 2]} }}{{ () }}{{ [] }}{{ {} }}{{ [1] ~ 'x' ~ 2 }}"
    )
    assert render(source, {}) == "1234(1,){'k': [1, 2]}()[]{}[1]x2"
    assert evaluate("{'a': 1}.a ~ [1, 2][0] ~ (3,)[0]", {}) == "113"


def test_calls_take_at_most_64_arguments() -> None:
    with pytest.raises(ExpressionError, match="more than 64 arguments"):
        render("{{ cycler(" + ", ".join(["1"] * 65) + ") }}", {})


def test_left_associative_power_is_small_and_allowed() -> None:
    # Jinja parses 9**9**9 as (9**9)**9, a 78-digit number: computed, not refused.
    started = time.monotonic()
    assert render("{{ 9**9**9 }}", {}) == (9**9) ** 9
    assert time.monotonic() - started < 2


def test_output_is_limited_to_one_mib(ctx: dict[str, Any]) -> None:
    loop = "{% for i in range(2000) %}{{ 'x' * 1000 }}{% endfor %}"
    assert "the rendered text is too large" in error_of(loop, ctx).detail
    big = "{% set s = 'a' * 1000000 %}{{ [s, s] }}"
    assert "too large" in error_of(big, ctx).detail
    assert "too large" in error_of("{{ ['x' * 600000, 'y' * 600000] }}", ctx).detail
    # bytes, not characters: 600,000 two-byte characters are 1.2 MB
    assert (
        "too large" in error_of("{% for i in range(2) %}{{ 'é' * 300000 }}{% endfor %}", ctx).detail
    )


def test_values_just_under_the_limit_are_fine(ctx: dict[str, Any]) -> None:
    size = MAX_VALUE_BYTES - 100
    assert len(render(f"{{{{ 'a' * {size} }}}}", ctx)) == size
    assert len(render(f"x{{{{ 'a' * {size} }}}}", ctx)) == size + 1
    assert len(render("{{ range(100000) | join(',') }}", ctx)) == 588889


def test_check_template_does_not_evaluate_constants() -> None:
    started = time.monotonic()
    check_template("{{ 'a' * 100000000 }}")
    check_template("{{ 'a' | center(1000000000) }}")
    assert time.monotonic() - started < 2


# --- errors are always ExpressionError -----------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "detail"),
    [
        ("{{ 1 / 0 }}", "ZeroDivisionError: division by zero"),
        ("{{ 'a' + 1 }}", "TypeError: can only concatenate str"),
        ("{% include 'other.sql' %}", "no loader"),
        ("{{ params.n | add_days(1) }}", "add_days: expected a date"),
        ("{{ '2024-03-01' | add_days('x') }}", "add_days: expected a number"),
        ("{{ '2024-03-01' | add_days(10**9) }}", "OverflowError"),
        ("{{ params.tables | strftime(1) }}", "strftime: the format must be a string"),
    ],
)
def test_runtime_errors_become_expression_errors(
    source: str, detail: str, ctx: dict[str, Any]
) -> None:
    err = error_of(source, ctx)
    assert detail in err.detail
    assert err.expression == source
    assert source in str(err)


def test_a_failing_lazy_lookup_becomes_an_expression_error() -> None:
    steps = CountingMapping({"a": {}}, fail_on="a")
    with pytest.raises(ExpressionError, match="RuntimeError: database is down"):
        evaluate_condition("steps.a.outputs", {"steps": steps})


def test_syntax_errors_from_check_template() -> None:
    with pytest.raises(ExpressionError) as info:
        check_template("select {{ params.ds + }}")
    assert info.value.detail.startswith("syntax error:")
    with pytest.raises(ExpressionError, match="syntax error"):
        check_template("{% if params.flag %}x")
    with pytest.raises(ExpressionError, match="syntax error"):
        check_template("{{ params.ds | }}")
    with pytest.raises(ExpressionError, match=r"syntax error: .*\(line 2\)"):
        check_template("line one\n{{ a + }}")


def test_check_template_accepts_valid_and_plain_strings() -> None:
    check_template("plain")
    check_template("{{ anything.undefined }}")  # names are only checked when rendering
    check_template("{% for t in params.tables %}{{ t }}{% endfor %}")


def test_syntax_errors_from_check_expression() -> None:
    with pytest.raises(ExpressionError, match="syntax error"):
        check_expression("steps.a.outputs.rowcount >")
    with pytest.raises(ExpressionError, match="empty expression"):
        check_expression("")
    with pytest.raises(ExpressionError, match="expected one expression"):
        check_expression("{{ a }} and {{ b }}")
    check_expression("steps.a.outputs.rowcount > 0")
    check_expression("{{ params.tables }}")


def test_syntax_errors_when_rendering_are_expression_errors(ctx: dict[str, Any]) -> None:
    assert error_of("{{ params.ds + }}", ctx).detail.startswith("syntax error:")
    assert error_of("x {% endif %}", ctx).detail.startswith("syntax error:")


# --- lazy mappings ------------------------------------------------------------------------------


def test_attribute_access_on_a_lazy_mapping_looks_up_one_key() -> None:
    steps = CountingMapping({"extract": {"outputs": {"rowcount": 12}}, "other": {}})
    assert render("{{ steps.extract.outputs.rowcount }}", {"steps": steps}) == 12
    assert steps.lookups == ["extract"]
    assert evaluate_condition("steps.extract.outputs.rowcount > 10", {"steps": steps}) is True
    assert steps.lookups == ["extract", "extract"]
    assert steps.iterations == 0


def test_a_missing_key_on_a_lazy_mapping_does_not_iterate_it() -> None:
    steps = CountingMapping({"extract": {}})
    err = error_of("{{ steps.load.outputs }}", {"steps": steps})
    assert err.detail.startswith("'steps' has no attribute 'load'")
    assert steps.lookups == ["load"]
    assert steps.iterations == 0


def test_keys_win_over_mapping_methods() -> None:
    outputs = {"items": [1, 2], "count": 2}
    assert render("{{ o.items }}", {"o": outputs}) == [1, 2]
    assert render("{{ o.count }}", {"o": outputs}) == 2
    assert render("{{ o.keys() | list }}", {"o": outputs}) == ["items", "count"]


# --- the cache ----------------------------------------------------------------------------------


def test_templates_are_compiled_once(ctx: dict[str, Any]) -> None:
    source = "cache-test {{ params.n }} " + str(time.monotonic_ns())
    before = expressions._compile_template.cache_info()
    assert render(source, ctx) == render(source, ctx)
    check_template(source)
    after = expressions._compile_template.cache_info()
    assert after.misses - before.misses == 1
    assert after.hits - before.hits == 2


def test_expressions_are_compiled_once(ctx: dict[str, Any]) -> None:
    source = f"params.n > {time.monotonic_ns()}"
    before = expressions._compile_expression.cache_info()
    for _ in range(3):
        assert evaluate_condition(source, ctx) is False
    check_expression(source)
    after = expressions._compile_expression.cache_info()
    assert after.misses - before.misses == 1
    assert after.hits - before.hits == 3


def test_native_templates_share_the_expression_cache(ctx: dict[str, Any]) -> None:
    token = time.monotonic_ns()
    before = expressions._compile_expression.cache_info()
    assert render(f"{{{{ params.n + {token} }}}}", ctx) == 3 + token
    assert evaluate(f" params.n + {token} ", ctx) == 3 + token  # the same inner source
    after = expressions._compile_expression.cache_info()
    assert after.misses - before.misses == 1
