"""Each mapping of a Maestro definition, checked on our own fixtures (tests/compat/fixtures)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from maestro.compat.maestro_json import is_maestro, translate
from maestro.definition.loader import parse_definition
from maestro.errors import DefinitionError

FIXTURES = Path(__file__).parent / "fixtures"


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def _steps(defn: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in defn["steps"]}


def test_recognised_by_the_top_level_workflow_object() -> None:
    assert is_maestro(_load("plain-dag.json"))
    assert not is_maestro({"id": "x", "steps": []})


def test_dag_properties_retries_and_failure_mode() -> None:
    defn, report = translate(_load("plain-dag.json"))
    assert defn["owner"] == "compat-team" and defn["run_strategy"] == "sequential"
    assert defn["tags"] == ["etl", "daily"] and defn["timeout"] == "3600s"
    steps = _steps(defn)
    assert steps["end"]["depends_on"] == ["nap", "side"]
    assert steps["nap"]["sleep"] == {"duration": "1s"}
    assert steps["nap"]["on_failure"] == "ignore"
    assert steps["nap"]["retries"] == {"limit": 1, "backoff": "fixed", "delay": "5s"}
    # Maestro's defaults where the definition gives no retry_policy
    assert steps["start"]["retries"] == {"limit": 2, "backoff": "fixed", "delay": "60s"}
    assert report.result == "translated with notes" and not report.reasons
    assert ("workflow", report.notes[-1][1]) == report.notes[-1]


def test_the_translated_plain_dag_is_a_valid_definition_today() -> None:
    defn = parse_definition(_load("plain-dag.json"))
    assert [s.id for s in defn.steps] == ["start", "nap", "side", "end"]
    assert defn.steps[1].retries.limit == 1


def test_conditional_successors_become_conditional_edges_with_any_taken() -> None:
    defn, report = translate(_load("branching.json"))
    steps = _steps(defn)
    assert steps["job.4"]["depends_on"] == [{"step": "a.2", "if": "(limit < 0)"}]
    assert steps["job.4"]["trigger_rule"] == "any_taken"
    assert steps["job.6"]["depends_on"] == [
        {"step": "a.2", "if": "(limit >= 0)"},
        {"step": "job.5", "if": "(steps['job.4'].params['x'] > 0)"},
    ]
    assert steps["job.7"]["depends_on"] == ["job.6"] and "trigger_rule" not in steps["job.7"]
    assert steps["job.7"]["params"]["copy"] == {
        "type": "int",
        "value": "{{ (params['base'] * 2) }}",
    }
    assert defn["max_active_steps"] == 5
    assert defn["run_strategy"] == {"kind": "parallel", "max_concurrency": 20}
    assert not report.reasons


def test_foreach_and_while() -> None:
    defn, report = translate(_load("loops.json"))
    assert defn["params"]["label"]["default"].startswith("{{ joda_datetime(1600000000000)")
    days = _steps(defn)["days"]
    assert days["foreach"]["matrix"] == {
        "d": "{{ date_ints_between(20240301, 20240304, 1) }}",
        "n": "{{ params['names'] }}",
    }
    assert days["foreach"]["concurrency"] == 2
    inner = days["foreach"]["steps"][0]
    assert inner["params"]["tag"]["value"] == "{{ ((d ~ '-') ~ n) }}"
    loop = _steps(defn)["count-up"]
    assert loop["type"] == "while"
    assert loop["while"]["condition"] == "(k < 4)"
    assert loop["while"]["loop"] == {"k": 1}
    assert loop["while"]["update"] == {"k": "{{ steps['body.1'].params.k }}"}
    assert loop["depends_on"] == ["days"]
    assert not report.reasons


def test_subworkflow_triggers_and_signals() -> None:
    parent, _ = translate(_load("parent.json"))
    call = parent["steps"][0]
    assert call["subworkflow"] == {
        "workflow": "compat-plain-dag",
        "wait": True,
        "version": "latest",
        "params": {},
        "pass_undeclared": True,  # Maestro passes undeclared params to the child
    }
    defn, report = translate(_load("triggered.json"))
    assert defn["triggers"][:2] == [
        {"cron": "30 6 * * *", "timezone": "Europe/Paris"},
        {"cron": "0 * * * *", "timezone": "UTC"},
    ]
    assert defn["triggers"][2] == {"signal": "tables/ready", "match": {"size": {">=": 10}}}
    step = defn["steps"][0]
    assert step["wait_for"] == [
        {"signal": "tables/ready", "match": {"ds": {">=": "{{ params['ds'] }}"}}}
    ]
    assert step["emit"] == [{"signal": "tables/done", "payload": {"ds": "{{ params['ds'] }}"}}]
    assert not report.reasons


def test_container_steps_are_not_importable_with_their_path() -> None:
    _, report = translate(_load("container.json"))
    assert report.result == "not importable"
    assert report.reasons == [
        ("workflow.steps[0].step.type", "kubernetes steps need a container runtime")
    ]
    with pytest.raises(DefinitionError) as exc:
        parse_definition(_load("container.json"), source="container.json")
    assert "workflow.steps[0].step.type" in str(exc.value)


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (
            lambda s: s.update(retry_policy={"error_retry_limit": "$n"}),
            ".retry_policy.error_retry_limit",
        ),
        (lambda s: s.update(failure_mode="whatever"), ".failure_mode"),
        (lambda s: s.update(surprise=1), ".surprise"),
        (lambda s: s.update(type="Titus"), ".type"),
        (
            lambda s: s.update(transition={"successors": {"nowhere": "true"}}),
            ".transition.successors.nowhere",
        ),
        (
            lambda s: s.update(params={"v": {"expression": "foo.bar()", "type": "LONG"}}),
            ".params.v.expression",
        ),
    ],
)
def test_never_guessed_each_refusal_names_its_path(change: Any, path: str) -> None:
    data = _load("plain-dag.json")
    change(data["workflow"]["steps"][3]["step"])
    _, report = translate(data)
    assert report.result == "not importable"
    assert [p for p, _ in report.reasons] == [f"workflow.steps[3].step{path}"]


def test_a_notebook_step_maps_its_path_and_reports_every_other_key() -> None:
    data = {
        "workflow": {
            "id": "nb",
            "steps": [
                {
                    "step": {
                        "id": "run-nb",
                        "type": "Notebook",
                        "params": {
                            "notebook": {
                                "type": "MAP",
                                "value": {
                                    "input_path": {"type": "STRING", "value": "etl.ipynb"},
                                    "output_path": {"type": "STRING", "value": "s3://out.ipynb"},
                                },
                            }
                        },
                    }
                },
                {"step": {"id": "bare-nb", "type": "Notebook"}},
            ],
        }
    }
    defn, report = translate(data)
    assert defn["steps"][0]["notebook"] == {"path": "etl.ipynb"}
    assert any(
        path == "workflow.steps[0].step.params.notebook.output_path" and "not translated" in msg
        for path, msg in report.notes
    ), report.notes
    assert any(path == "workflow.steps[1].step.params.notebook" for path, _ in report.reasons)
