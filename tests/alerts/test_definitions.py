"""Alert rules in definitions: what is accepted, and every mistake named with its path — by
the loader, by ``maestro validate`` and by the API (422, never 500)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from maestro.definition import load_definition
from maestro.definition.alerts import AlertEvent
from maestro.errors import DefinitionError
from tests.engine.harness import Harness

SPEC_EXAMPLE = """
id: etl
owner: t
alerts:
  - on: [run_failed, run_timed_out]
    webhook: {url: "https://hooks.example.com/maestro", headers: {X-Team: data}}
  - on: [run_overdue]
    after: 2h
    slack: {connection: team_slack}
  - on: [deadline_missed]
    deadline: 6h
    email: {connection: smtp_main, to: [oncall@example.com]}
steps:
  - id: load
    type: shell
    shell: {command: ./load.sh}
    alerts:
      - on: [step_failed, step_retried]
        python: {callable: "hooks.notify:page"}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(DefinitionError) as caught:
        load_definition(textwrap.dedent(text))
    return [str(p) for p in caught.value.problems]


def test_the_spec_example_is_accepted() -> None:
    definition = load_definition(SPEC_EXAMPLE)
    rules = definition.alerts
    assert [r.channel for r in rules] == ["webhook", "slack", "email"]
    assert rules[1].after is not None and rules[1].after.total_seconds() == 7200
    assert rules[2].connection == "smtp_main"
    (step_rule,) = definition.steps[0].alerts
    assert step_rule.on == [AlertEvent.step_failed, AlertEvent.step_retried]


def one_rule(rule: str, step_rule: str = "") -> str:
    step = f"\n    alerts: [{step_rule}]" if step_rule else ""
    return f"""
id: w
owner: t
alerts: [{rule}]
steps:
  - id: a
    type: noop{step}
"""


@pytest.mark.parametrize(
    ("rule", "where", "says"),
    [
        ("{on: [run_fail], webhook: {url: 'https://x.io'}}", "alerts[0].on[0]", "run_failed"),
        ("{on: run_overdue, webhook: {url: 'https://x.io'}}", "alerts[0]", "needs 'after'"),
        ("{on: deadline_missed, webhook: {url: 'https://x.io'}}", "alerts[0]", "'deadline'"),
        ("{on: run_failed, after: 1h, webhook: {url: 'https://x.io'}}", "alerts[0]", "only"),
        ("{on: run_failed}", "alerts[0]", "exactly one channel"),
        (
            "{on: run_failed, webhook: {url: 'https://x.io'}, python: {callable: 'a:b'}}",
            "alerts[0]",
            "not 2: webhook, python",
        ),
        ("{on: run_failed, webhook: {url: 'ftp://x.io'}}", "alerts[0].webhook.url", "http"),
        ("{on: run_failed, python: {callable: 'nodots'}}", "alerts[0].python.callable", "module"),
        ("{on: run_failed, email: {connection: m, to: []}}", "alerts[0].email.to", ""),
        ("{on: run_failed, slack: {connection: 'bad name'}}", "alerts[0].slack.connection", ""),
        (
            "{on: run_failed, webhook: {url: 'https://x.io/{{ params.x }'}}",
            "alerts[0].webhook.url",
            "syntax",
        ),
    ],
)
def test_a_mistake_is_named_with_its_path(rule: str, where: str, says: str) -> None:
    found = problems(one_rule(rule))
    assert any(p.startswith(where) and says in p for p in found), found


def test_a_step_rule_hears_step_events_only() -> None:
    good = "{on: run_succeeded, webhook: {url: 'https://x.io'}}"
    found = problems(
        one_rule(good, "{on: [step_failed, run_failed], webhook: {url: 'https://x.io'}}")
    )
    assert any(p.startswith("steps[0].alerts") and "run_failed" in p for p in found), found


def test_the_api_refuses_an_unknown_connection_with_422_and_the_path(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MAESTRO_CONN_TEAM_SLACK", raising=False)
    h = Harness(db_url, tmp_path)
    try:
        with TestClient(create_app(h.engine, auth=False), base_url="http://test") as client:
            answer = client.post(
                "/api/v1/workflows",
                content=SPEC_EXAMPLE,
                headers={"Content-Type": "application/yaml"},
            )
            assert answer.status_code == 422, answer.text
            where = [p["loc"] for p in answer.json()["errors"]]
            assert ["alerts", 1, "slack", "connection"] in where
            assert ["alerts", 2, "email", "connection"] in where
            monkeypatch.setenv("MAESTRO_CONN_TEAM_SLACK", "https://hooks.slack.test/T/B/x")
            monkeypatch.setenv("MAESTRO_CONN_SMTP_MAIN", "smtp://u:p@127.0.0.1:25")
            answer = client.post(
                "/api/v1/workflows",
                content=SPEC_EXAMPLE,
                headers={"Content-Type": "application/yaml"},
            )
            assert answer.status_code in (200, 201), answer.text
    finally:
        h.close()
