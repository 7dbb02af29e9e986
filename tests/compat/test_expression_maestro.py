"""The Maestro helpers in every expression (maestro/expression_maestro.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from maestro import expressions
from maestro.errors import ExpressionError


def test_date_ints_between_excludes_the_end_and_crosses_months() -> None:
    got = expressions.evaluate("date_ints_between(20240227, 20240302, 2)", {})
    assert got == [20240227, 20240229]
    assert expressions.evaluate("date_ints_between(20200101, 20200110, 1) | length", {}) == 9


def test_ints_between_and_date_int_hour_to_ts() -> None:
    assert expressions.evaluate("ints_between(0, 10, 3)", {}) == [0, 3, 6, 9]
    ts = expressions.evaluate("date_int_hour_to_ts(20240301, 5, 'UTC', 1, 2)", {})
    assert ts == int(datetime(2024, 2, 29, 3, tzinfo=UTC).timestamp() * 1000)


def test_builtins_come_from_the_runs_logical_date() -> None:
    run = {"logical_date": "2024-03-01T07:30:00+00:00"}
    assert expressions.evaluate("maestro_builtin('TARGET_RUN_DATE', run)", {"run": run}) == 20240301
    assert expressions.evaluate("maestro_builtin('TARGET_RUN_HOUR', run)", {"run": run}) == 7


def test_usable_in_yaml_templates_and_bad_input_is_an_expression_error() -> None:
    text = expressions.render("{{ joda_datetime(0).plusDays(1).toString('yyyy-MM-dd') }}", {})
    assert text == "1970-01-02"
    with pytest.raises(ExpressionError):
        expressions.evaluate("date_ints_between(20240101, 20240102, 0)", {})
