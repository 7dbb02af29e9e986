"""Signal matches with operators (``maestro.engine.matching``) and their validation."""

from __future__ import annotations

import pytest

from maestro.definition import parse_definition
from maestro.engine.matching import payload_matches
from maestro.errors import DefinitionError


@pytest.mark.parametrize(
    ("match", "payload", "fits"),
    [
        ({"table": "plays"}, {"table": "plays", "ds": "x"}, True),
        ({"table": "plays"}, {"ds": "x"}, False),
        ({"flag": True}, {"flag": 1}, False),
        ({"ds": {">=": "2024-05-01"}}, {"ds": "2024-05-02"}, True),
        ({"ds": {">=": "2024-05-01"}}, {"ds": "2024-05-01"}, True),
        ({"ds": {">=": "2024-05-01"}}, {"ds": "2024-04-30"}, False),
        ({"n": {">": 9}}, {"n": 10}, True),  # numbers as numbers: 10 > 9
        ({"n": {">": "9"}}, {"n": "10"}, False),  # strings as strings: "10" < "9"
        ({"n": {"<=": 2.5}}, {"n": 2}, True),
        ({"env": {"!=": "test"}}, {"env": "prod"}, True),
        ({"env": {"!=": "test"}}, {"env": "test"}, False),
        ({"env": {"=": "prod"}}, {"env": "prod"}, True),
        ({"n": {"<": 3}}, {"n": None}, False),
        ({"shape": {"a": 1}}, {"shape": {"a": 1}}, True),  # a plain map is a value
    ],
)
def test_payload_matches(match: dict[str, object], payload: dict[str, object], fits: bool) -> None:
    assert payload_matches(match, payload) is fits


def test_an_unknown_operator_is_refused_at_its_path() -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_definition(
            {
                "id": "w",
                "owner": "t",
                "steps": [
                    {
                        "id": "a",
                        "type": "noop",
                        "wait_for": [{"signal": "s", "match": {"n": {"=>": 1}}}],
                    }
                ],
            }
        )
    text = str(caught.value)
    assert "steps[0].wait_for[0].match" in text and "unknown operator '=>'" in text
