"""Values a client sends that the store could keep but not give back: refused with a 4xx that
names the place, nothing kept (a deep list param was stored, then every read of its run
answered 500; a crafted cursor overflowed SQLite's integer)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import API, TYPED, Tokens, problem_of

TYPES = """
id: types
owner: team-a
params:
  l: {type: list, default: []}
  m: {type: map, default: {}}
  f: {type: float, default: 1.5}
  s: {type: string, default: x}
steps:
  - id: a
    type: noop
"""


def _nested(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.fixture
def types(client: TestClient) -> None:
    answer = client.post(
        API + "/workflows", content=TYPES, headers={"Content-Type": "application/yaml"}
    )
    assert answer.status_code == 201, answer.text


def _runs(client: TestClient) -> list[Any]:
    items: list[Any] = client.get(API + "/workflows/types/runs").json()["items"]
    return items


@pytest.mark.parametrize(
    ("params", "place", "says"),
    [
        ('{"l": ' + _nested(300) + "}", "params.l", "nested more than 100 levels deep"),
        ('{"m": {"a": ' + _nested(150) + "}}", "params.m", "nested more than 100 levels deep"),
        ('{"m": {"a": [1, NaN]}}', "params.m", "value.a[1]: numbers must be finite"),
        ('{"f": ' + "9" * 400 + "}", "params.f", "expected a finite number"),
        ('{"s": Infinity}', "params.s", "expected a string"),
    ],
)
def test_a_param_the_run_could_not_show_is_refused_and_no_run_made(
    client: TestClient, types: None, params: str, place: str, says: str
) -> None:
    body = '{"params": ' + params + "}"
    answer = client.post(API + "/workflows/types/runs", content=body, headers=TYPED)
    problem = problem_of(answer, 422)
    error = problem["errors"][0]
    assert ".".join(map(str, error["loc"])) == place and says in error["msg"], problem
    assert _runs(client) == []


def test_a_list_param_as_deep_as_a_definition_may_be_is_kept_and_shown(
    client: TestClient, types: None
) -> None:
    body = '{"params": {"l": ' + _nested(99) + "}}"
    run = client.post(API + "/workflows/types/runs", content=body, headers=TYPED)
    assert run.status_code == 201, run.text
    shown = client.get(f"{API}/runs/{run.json()['id']}")
    assert shown.status_code == 200
    assert json.dumps(shown.json()["params"]["l"]).count("[") == 99


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        (_nested(900), "payload.a[0][0]…[0][0]: nested more than 100 levels deep"),
        ('[1, {"b": NaN}]', "payload.a[1].b: numbers must be finite"),
        ("1e400", "payload.a: numbers must be finite"),
    ],
)
def test_a_signal_whose_payload_could_not_be_shown_is_refused_and_not_kept(
    client: TestClient, payload: str, says: str
) -> None:
    body = '{"name": "deep", "payload": {"a": ' + payload + "}}"
    problem = problem_of(client.post(API + "/signals", content=body, headers=TYPED), 422)
    assert "'deep'" in problem["detail"] and says in problem["detail"], problem
    listed = client.get(API + "/signals")
    assert listed.status_code == 200 and listed.json()["items"] == []


def test_a_signal_payload_of_more_keys_than_a_map_may_have_is_refused(client: TestClient) -> None:
    payload = {f"k{i}": i for i in range(1001)}
    answer = client.post(API + "/signals", json={"name": "wide", "payload": payload})
    assert "payload: a map of 1001 keys; at most 1000" in problem_of(answer, 422)["detail"]


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "path",
    ["/runs", "/signals", "/alerts", "/workflows/types/versions", "/runs/1/events"],
)
@pytest.mark.parametrize("value", [str(2**63), str(-(2**63) - 1), "٣"])
def test_a_cursor_outside_what_the_keys_hold_is_a_400_not_a_crash(
    client: TestClient, types: None, path: str, value: str
) -> None:
    if path.startswith("/runs/1"):
        assert client.post(API + "/workflows/types/runs", json={}).status_code == 201
    problem_of(client.get(API + path, params={"cursor": _cursor(f"i:{value}")}), 400)


@pytest.mark.parametrize("path", ["/workflows", "/workflows/validate"])
def test_a_definition_sent_as_json_that_is_not_json_is_a_malformed_body(
    client: TestClient, path: str
) -> None:
    problem = problem_of(client.post(API + path, content="{bad json", headers=TYPED), 400)
    assert problem["detail"].startswith("the request body is not valid JSON: Expecting")
    assert "line 1 column 2" in problem["detail"]
    # the same text sent as YAML is an invalid definition, with the YAML parser's place
    yaml_type = {"Content-Type": "application/yaml"}
    problem = problem_of(client.post(API + path, content="{bad json", headers=yaml_type), 422)
    assert "invalid YAML at line 1" in problem["errors"][0]["msg"]


def test_a_json_definition_giving_a_key_twice_is_refused_at_its_place(client: TestClient) -> None:
    body = '{"id": "x", "id": "y", "owner": "o", "steps": [{"id": "a", "type": "noop"}]}'
    problem = problem_of(client.post(API + "/workflows", content=body, headers=TYPED), 422)
    assert problem["errors"] == [
        {"loc": ["id"], "msg": "key 'id' given twice (again at line 1); give it once"}
    ]
    assert client.get(API + "/workflows/y").status_code == 404


@pytest.mark.parametrize(
    ("path", "params", "place"),
    [
        ("/runs", {"trigger": "nope"}, ["query", "trigger", 0]),
        ("/runs", {"since": "-1"}, ["query", "since"]),
        ("/workflows/types/runs", {"until": "1700000000"}, ["query", "until"]),
    ],
)
def test_a_filter_that_names_nothing_is_a_422_not_an_empty_page(
    client: TestClient, types: None, path: str, params: dict[str, str], place: list[Any]
) -> None:
    problem = problem_of(client.get(API + path, params=params), 422)
    assert problem["errors"][0]["loc"] == place, problem


def test_a_number_is_not_taken_for_an_instant(client: TestClient, types: None) -> None:
    answer = client.post(API + "/workflows/types/runs", json={"logical_date": 123})
    problem = problem_of(answer, 422)
    assert problem["errors"][0]["loc"] == ["body", "logical_date"]
    assert "123 is a number: give an ISO 8601 instant" in problem["errors"][0]["msg"]
    assert _runs(client) == []
    dated = {"logical_date": "2024-05-01T03:00:00Z"}
    assert client.post(API + "/workflows/types/runs", json=dated).status_code == 201


def test_with_tokens_a_form_or_text_body_is_told_to_send_json(authed: Tokens) -> None:
    form = authed.call("write-any", "POST", "/signals", data={"name": "x"})
    problem = problem_of(form, 415)
    assert "needs a Content-Type such as application/json" in problem["detail"]
    assert "'application/x-www-form-urlencoded'" in problem["detail"]
    text = authed.call(
        "write-any",
        "POST",
        "/signals",
        content='{"name": "x"}',
        headers={"Content-Type": "text/plain"},
    )
    problem_of(text, 415)
    # a POST without a body needs no type; JSON is taken
    assert authed.call("write-any", "POST", "/runs/999/stop").status_code == 404
    sent = authed.call("write-any", "POST", "/signals", json={"name": "x"})
    assert sent.status_code == 202, sent.text


def test_an_unknown_workflow_is_named_with_the_closest_one(client: TestClient, types: None) -> None:
    started = problem_of(client.post(API + "/workflows/typse/runs", json={}), 404)
    assert started["detail"] == "workflow 'typse' does not exist — did you mean 'types'?"
    shown = problem_of(client.get(API + "/workflows/type"), 404)
    assert shown["detail"].endswith("did you mean 'types'?")
    far = problem_of(client.post(API + "/workflows/zzzzzz/runs", json={}), 404)
    assert far["detail"] == "workflow 'zzzzzz' does not exist"


def test_text_with_a_nul_character_is_refused_on_every_database_alike(
    client: TestClient, types: None
) -> None:
    """PostgreSQL stores no NUL in text (its error said so); SQLite kept it."""
    param = client.post(API + "/workflows/types/runs", json={"params": {"s": "a\x00b"}})
    assert "NUL" in problem_of(param, 422)["errors"][0]["msg"]
    payload = client.post(API + "/signals", json={"name": "n", "payload": {"k": "a\x00"}})
    assert "payload.k: text may not contain NUL" in problem_of(payload, 422)["detail"]
    name = client.post(API + "/signals", json={"name": "a\x00"})
    assert problem_of(name, 422)["errors"][0]["loc"] == ["body", "name"]
    definition = '{"id": "nul", "owner": "a\\u0000", "steps": [{"id": "a", "type": "noop"}]}'
    refused = client.post(API + "/workflows", content=definition, headers=TYPED)
    assert problem_of(refused, 422)["errors"][0]["loc"] == ["owner"]
    assert _runs(client) == [] and client.get(API + "/signals").json()["items"] == []


def test_with_tokens_a_definition_is_read_whatever_its_type(authed: Tokens) -> None:
    """curl --data-binary @wf.yaml sends a form type: a definition is read anyway."""
    text = "id: typed\nowner: team-a\nsteps: [{id: a, type: noop}]\n"
    for media_type in ("application/x-www-form-urlencoded", "text/plain"):
        headers = {"Content-Type": media_type}
        checked = authed.call(
            "write-a", "POST", "/workflows/validate", content=text, headers=headers
        )
        assert checked.status_code == 200, checked.text
        stored = authed.call("write-a", "POST", "/workflows", content=text, headers=headers)
        assert stored.status_code in (200, 201), stored.text
