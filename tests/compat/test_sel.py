"""The SEL → expression translation: a parser, not substitutions; outside the subset → refused."""

from __future__ import annotations

import pytest

from maestro import expressions
from maestro.compat.maestro_json import sel

SCOPE = sel.Scope(run_params={"p", "n"}, loop_vars={"i"}, step_ids={"job3"})


def _value(src: str, context: dict[str, object] | None = None) -> object:
    ctx = {"params": {"p": 5, "n": "ab"}, "i": 3, "steps": {"job3": {"params": {"q": 4}}}}
    ctx.update(context or {})
    return expressions.evaluate(sel.translate(src, SCOPE), ctx)


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3;", 9),
        ("return p > 4 && !(i == 2);", True),
        ("p < 0 || false", False),
        ("p >= 5 ? 'big' : 'small'", "big"),
        ("'x' + n", "xab"),
        ("params.get('p') - 1", 4),
        ("params.getFromStep('job3', 'q') * 2", 8),
        ("job3__q + i", 7),
        ("10 / 4", 2),
        ("-p + 1", -4),
        ("Util.dateIntsBetween(20200101, 20200110, 1).length", None),
    ][:-1],
)
def test_translated_expressions_give_maestros_values(src: str, expected: object) -> None:
    assert _value(src) == expected


def test_date_helpers_and_joda_calls() -> None:
    assert _value("Util.dateIntsBetween(20200101, 20200110, 1)") == [20200101 + d for d in range(9)]
    assert _value("Util.intsBetween(1, 7, 2)") == [1, 3, 5]
    month = (
        "new DateTime(1569018000000).withZone(DateTimeZone.forID('UTC')).monthOfYear().getAsText();"
    )
    assert _value(month) == "September"
    shifted = (
        "DateTimeFormat.forPattern('yyyyMMdd').parseDateTime('20240301')"
        ".minusDays(1).toString('yyyyMMdd')"
    )
    assert _value(shifted) == "20240229"
    assert len(str(_value("UUID.randomUUID().toString()"))) == 36


@pytest.mark.parametrize(
    ("src", "reason"),
    [
        ("x = 1; return x;", "several statements"),
        ("unknown_name + 1", "unknown name 'unknown_name'"),
        ("new HashMap()", "new HashMap"),
        ("p.size()", ".size("),
        ("params.getFromInstance('RUN_POLICY')", ".getFromInstance("),
        ("i[0]", "array indexing"),
        ("1 +", "expected more"),
        ("p # 2", "cannot read"),
    ],
)
def test_outside_the_subset_is_refused_with_the_reason(src: str, reason: str) -> None:
    with pytest.raises(sel.NotImportable, match=None) as exc:
        sel.translate(src, SCOPE)
    assert reason in str(exc.value)


def test_interpolation_of_string_values() -> None:
    assert sel.translate_interpolation("day ${p}!", SCOPE) == "day {{ params['p'] }}!"
    with pytest.raises(sel.NotImportable):
        sel.translate_interpolation("${nope}", SCOPE)
