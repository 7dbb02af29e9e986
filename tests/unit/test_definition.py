"""Loading and validating workflow definitions: the contract of spec/workflow.md.

Each test states one rule of the contract and checks the exact path and message a user sees.
"""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maestro.definition import (
    Backoff,
    OnFailure,
    ParamSpec,
    StepType,
    TriggerRule,
    WorkflowDefinition,
    content_hash,
    definition_to_dict,
    load_definition,
    parse_definition,
)
from maestro.definition.basics import StreamMode
from maestro.definition.loader import MAX_DEFINITION_BYTES, MAX_MAP_KEYS
from maestro.definition.models import CronTrigger, RunStrategyKind, SignalTrigger
from maestro.definition.steps import ForeachSettings, ShellSettings, SparkSettings
from maestro.errors import DefinitionError

SPEC_EXAMPLE = Path(__file__).parent / "fixtures" / "spec_example.yaml"


def _doc(*steps: dict[str, Any], **top: Any) -> dict[str, Any]:
    """A minimal valid document around the given steps (a noop step if none)."""
    return {
        "id": "wf",
        "owner": "team",
        **top,
        "steps": list(steps) or [{"id": "a", "type": "noop"}],
    }


def _shell(step_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": step_id, "type": "shell", "shell": {"command": "true"}, **fields}


def _problems(data: Any) -> list[str]:
    with pytest.raises(DefinitionError) as info:
        parse_definition(data)
    return [str(p) for p in info.value.problems]


def _load_problems(text: str | bytes) -> list[str]:
    with pytest.raises(DefinitionError) as info:
        load_definition(text)
    return [str(p) for p in info.value.problems]


# --- the spec's example ---------------------------------------------------------------------


@pytest.fixture
def example() -> WorkflowDefinition:
    return load_definition(SPEC_EXAMPLE.read_text(encoding="utf-8"), source=str(SPEC_EXAMPLE))


def test_spec_example_parses(example: WorkflowDefinition) -> None:
    assert example.id == "daily-plays"
    assert example.display_name == "Daily plays aggregation"
    assert example.owner == "data-eng"
    assert example.tags == ["etl", "daily"]
    assert example.timeout == timedelta(hours=6)
    assert example.max_active_steps == 20
    assert example.run_strategy.kind is RunStrategyKind.sequential
    assert [s.id for s in example.steps] == [
        "extract",
        "aggregate",
        "per_table",
        "publish",
        "announce",
    ]


def test_spec_example_params_and_triggers(example: WorkflowDefinition) -> None:
    ds, tables = example.params["ds"], example.params["tables"]
    assert ds.type == "date" and ds.default == "{{ run.logical_date | ds }}" and not ds.required
    assert tables.default == ["plays", "ratings"]
    cron, signal = example.triggers
    assert isinstance(cron, CronTrigger) and isinstance(signal, SignalTrigger)
    assert cron.timezone == "America/Los_Angeles" and cron.catchup is False
    assert signal.match == {"table": "plays"}
    assert signal.params == {"ds": "{{ signal.ds }}"}
    assert example.outputs == {"rows": "{{ steps.aggregate.outputs.rowcount }}"}


def test_spec_example_steps_get_defaults(example: WorkflowDefinition) -> None:
    extract = example.steps[0]
    assert extract.retries.limit == 2
    assert extract.retries.backoff is Backoff.exponential
    assert extract.retries.delay == timedelta(seconds=30)
    assert extract.retries.max_delay == timedelta(minutes=10)
    assert extract.timeout == timedelta(hours=1)
    assert isinstance(extract.settings, SparkSettings)
    assert extract.settings.conf == {"spark.sql.shuffle.partitions": "4"}
    assert extract.effective_queue == "spark"
    loop = example.steps[2].foreach
    assert isinstance(loop, ForeachSettings)
    assert loop.as_ == "table" and loop.concurrency == 2
    assert loop.steps[0].retries.limit == 2  # defaults reach foreach bodies
    publish = example.steps[3]
    assert publish.on_failure is OnFailure.ignore
    assert publish.when == "steps.aggregate.outputs.rowcount > 0"
    assert publish.effective_queue == "default"
    announce = example.steps[4]
    assert announce.settings is None
    assert announce.emit[0].signal == "plays_published"


def test_spec_example_round_trips(example: WorkflowDefinition) -> None:
    data = definition_to_dict(example)
    assert json.loads(json.dumps(data)) == data
    assert data["timeout"] == "6h"
    assert data["steps"][2]["foreach"]["as"] == "table"
    again = parse_definition(data)
    assert again == example
    assert definition_to_dict(again) == data
    assert content_hash(again) == content_hash(example)


# --- top-level fields -----------------------------------------------------------------------


def test_minimal_definition_takes_the_documented_defaults() -> None:
    d = parse_definition(_doc())
    assert d.display_name == "wf"
    assert d.description == "" and d.tags == [] and d.params == {} and d.triggers == []
    assert d.run_strategy.kind is RunStrategyKind.sequential
    assert d.timeout == timedelta(days=10)
    assert d.max_active_steps == 20
    step = d.steps[0]
    assert step.display_name == "a"
    assert step.trigger_rule is TriggerRule.all_success
    assert step.on_failure is OnFailure.finish_running
    assert step.retries.limit == 0
    assert step.retries.delay == timedelta(seconds=10)
    assert step.retries.max_delay == timedelta(hours=1)
    assert step.timeout is None and step.queue is None and step.priority == 0


@pytest.mark.parametrize(
    ("top", "expected"),
    [
        ({"id": "-bad"}, "id: invalid workflow id '-bad'"),
        ({"id": "x" * 129}, "id: invalid workflow id"),
        ({"owner": ""}, "owner: must not be empty"),
        ({"owner": None}, "owner: expected a string, got null"),
        ({"max_active_steps": 0}, "max_active_steps: must be at least 1, got 0"),
        ({"max_active_steps": 1001}, "max_active_steps: must be at most 1000, got 1001"),
        ({"timeout": "5x"}, "timeout: invalid duration '5x'"),
        ({"timeout": "0s"}, "timeout: must be longer than 0s"),
        ({"tags": "etl"}, "tags: expected a list, got a string"),
        ({"params": {"bad-name": {}}}, "params.bad-name: invalid key: invalid name 'bad-name'"),
        ({"params": {"p": {"type": "strng"}}}, "did you mean 'string'?"),
        ({"steps": []}, "steps: needs at least 1 item"),
    ],
)
def test_top_level_field_errors(top: dict[str, Any], expected: str) -> None:
    (problem,) = _problems({**_doc(), **top})
    assert problem.startswith(expected) or expected in problem


def test_missing_required_keys() -> None:
    assert _problems({"steps": [{"type": "noop"}]}) == [
        "steps[0].id: required key 'id' is missing",
        "id: required key 'id' is missing",
        "owner: required key 'owner' is missing",
    ]


@pytest.mark.parametrize("data", [[], "text", 5, None, [{"id": "x"}]])
def test_top_level_must_be_a_mapping(data: Any) -> None:
    (problem,) = _problems(data)
    assert problem.startswith("(root): a workflow definition is a mapping at the top level")


def test_run_strategy_as_string_or_map() -> None:
    assert parse_definition(_doc(run_strategy="last_only")).run_strategy.kind == "last_only"
    parallel = parse_definition(_doc(run_strategy="parallel")).run_strategy
    assert parallel.kind is RunStrategyKind.parallel and parallel.max_concurrency == 20
    given = parse_definition(_doc(run_strategy={"kind": "parallel", "max_concurrency": 3}))
    assert given.run_strategy.max_concurrency == 3
    assert _problems(_doc(run_strategy={"kind": "sequential", "max_concurrency": 3})) == [
        "run_strategy: max_concurrency applies only to kind 'parallel' (kind is 'sequential')"
    ]
    assert _problems(_doc(run_strategy="paralel")) == [
        "run_strategy.kind: invalid value 'paralel': expected one of sequential, "
        "strict_sequential, first_only, last_only, parallel — did you mean 'parallel'?"
    ]


def test_param_spec_required_and_round_trip() -> None:
    d = parse_definition(_doc(params={"ds": {"type": "date"}, "n": {"type": "int", "default": 3}}))
    assert d.params["ds"].required and not d.params["n"].required
    data = definition_to_dict(d)
    assert "default" not in data["params"]["ds"]
    assert data["params"]["n"]["default"] == 3
    assert parse_definition(data).params["ds"].required
    assert ParamSpec(default=None).required is False


def test_param_default_must_fit_its_type_unless_templated() -> None:
    assert _problems(_doc(params={"n": {"type": "int", "default": "ten"}})) == [
        "params.n.default: param 'n' (int): expected an integer, got 'ten'"
    ]
    ok = parse_definition(_doc(params={"n": {"type": "int", "default": "{{ 1 + 1 }}"}}))
    assert ok.params["n"].default == "{{ 1 + 1 }}"


# --- triggers -------------------------------------------------------------------------------


def test_trigger_items_are_chosen_by_their_key() -> None:
    d = parse_definition(_doc(triggers=[{"cron": "@daily"}, {"signal": "landed"}]))
    assert isinstance(d.triggers[0], CronTrigger) and d.triggers[0].timezone == "UTC"
    assert isinstance(d.triggers[1], SignalTrigger)


@pytest.mark.parametrize(
    ("trigger", "expected"),
    [
        ({}, "triggers[0]: a trigger needs a 'cron' or a 'signal' key"),
        ({"cron": "@daily", "signal": "s"}, "triggers[0]: a trigger has either 'cron' or 'signal'"),
        ("daily", "triggers[0]: a trigger must be a mapping"),
        ({"cron": "61 * * * *"}, "triggers[0].cron: invalid cron expression '61 * * * *'"),
        ({"cron": "@daily", "timezone": "Mars/Base"}, "triggers[0].timezone: unknown timezone"),
        ({"cron": "@daily", "catchup": "maybe"}, "triggers[0].catchup: expected true or false"),
        ({"signal": "s", "matc": {}}, "unknown key 'matc' — did you mean 'match'?"),
        ({"signal": ""}, "triggers[0].signal: must not be empty"),
    ],
)
def test_trigger_errors_are_at_the_list_index(trigger: Any, expected: str) -> None:
    (problem,) = _problems(_doc(triggers=[trigger]))
    assert expected in problem
    assert problem.startswith("triggers[0]")


# --- unknown keys ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            _doc(_shell("a"), _shell("b", dependson=["a"])),
            "steps[1].dependson: unknown key 'dependson' — did you mean 'depends_on'?",
        ),
        (_doc(onwer="x"), "onwer: unknown key 'onwer' — did you mean 'owner'?"),
        (_doc(zzz=1), "zzz: unknown key 'zzz'"),
        (
            _doc(_shell("a", retries={"limt": 2})),
            "steps[0].retries.limt: unknown key 'limt' — did you mean 'limit'?",
        ),
        (
            _doc({"id": "a", "type": "shell", "shell": {"comand": "x", "command": "y"}}),
            "steps[0].shell.comand: unknown key 'comand' — did you mean 'command'?",
        ),
        (
            _doc(
                {
                    "id": "a",
                    "type": "foreach",
                    "foreach": {"items": "xs", "ass": "x", "steps": [{"id": "b", "type": "noop"}]},
                }
            ),
            "steps[0].foreach.ass: unknown key 'ass' — did you mean 'as'?",
        ),
        (
            _doc(
                {
                    "id": "a",
                    "type": "foreach",
                    "foreach": {"items": "xs", "steps": [{"id": "b", "type": "noop", "whn": "x"}]},
                }
            ),
            "steps[0].foreach.steps[0].whn: unknown key 'whn' — did you mean 'when'?",
        ),
        (
            _doc(triggers=[{"cron": "@daily", "timezon": "UTC"}]),
            "triggers[0].timezon: unknown key 'timezon' — did you mean 'timezone'?",
        ),
        (
            _doc(defaults={"shell": {"cwdd": "/"}}),
            "defaults.shell.cwdd: unknown key 'cwdd' — did you mean 'cwd'?",
        ),
        (
            _doc(defaults={"retry": {"limit": 1}}),
            "defaults.retry: unknown key 'retry' — did you mean 'retries'?",
        ),
        (
            _doc(params={"p": {"typ": "int"}}),
            "params.p.typ: unknown key 'typ' — did you mean 'type'?",
        ),
    ],
)
def test_unknown_keys_have_paths_and_suggestions(data: dict[str, Any], expected: str) -> None:
    assert _problems(data) == [expected]


# --- steps ----------------------------------------------------------------------------------


def test_step_id_format() -> None:
    assert _problems(_doc({"id": "1-b", "type": "noop"})) == [
        "steps[0].id: invalid step id '1-b': use letters, digits, '_', '.' and '-' "
        "(at most 64), starting with a letter or '_'"
    ]
    for bad in (".a", "-a", "a/b", "a b", "a:b"):
        assert _problems(_doc({"id": bad, "type": "noop"}))[0].startswith("steps[0].id: invalid")
    assert parse_definition(_doc({"id": "_" + "x" * 63, "type": "noop"}))
    assert _problems(_doc({"id": "x" * 65, "type": "noop"}))[0].startswith("steps[0].id: invalid")


def test_maestro_step_ids_with_dots_and_dashes() -> None:
    defn = parse_definition(
        {
            "id": "w",
            "owner": "o",
            "steps": [
                {"id": "job.1", "type": "noop"},
                {"id": "sub-step1", "type": "noop", "depends_on": ["job.1"]},
                {
                    "id": "last",
                    "type": "noop",
                    "depends_on": "sub-step1",
                    "when": "{{ steps['job.1'].status == 'SUCCEEDED' }}",
                },
            ],
        }
    )
    assert [s.id for s in defn.steps] == ["job.1", "sub-step1", "last"]
    assert defn.steps[1].depends_on == ["job.1"]


def test_type_key_is_required() -> None:
    assert _problems(_doc({"id": "a", "type": "shell"})) == [
        "steps[0]: a step of type 'shell' needs its settings under 'shell'"
    ]


def test_other_type_keys_are_refused_naming_both() -> None:
    step = {"id": "a", "type": "shell", "shell": {"command": "x"}, "spark": {"application": "y"}}
    assert _problems(_doc(step)) == [
        "steps[0]: a step of type 'shell' does not take 'spark' settings "
        "(put its settings under 'shell')"
    ]
    assert _problems(_doc({"id": "a", "type": "noop", "sleep": {"duration": "1s"}})) == [
        "steps[0]: a step of type 'noop' takes no settings, but has 'sleep'"
    ]


def test_unknown_step_type_suggests() -> None:
    assert _problems(_doc({"id": "a", "type": "shel"})) == [
        "steps[0].type: invalid value 'shel': expected one of noop, sleep, shell, python, "
        "spark, sql, stream, http, notebook, foreach, subworkflow, while — did you mean 'shell'?"
    ]


def test_every_step_type_parses() -> None:
    steps: list[dict[str, Any]] = [
        {"id": "n", "type": "noop"},
        {"id": "sl", "type": "sleep", "sleep": {"duration": "30s"}},
        {"id": "sh", "type": "shell", "shell": {"command": "ls", "cwd": "/tmp"}},
        {"id": "py", "type": "python", "python": {"callable": "pkg.mod:fn", "kwargs": {"a": 1}}},
        {
            "id": "sp",
            "type": "spark",
            "spark": {
                "application": "app.jar",
                "main_class": "com.x.Main",
                "deploy_mode": "cluster",
                "executor_cores": 2,
                "num_executors": 3,
                "conf": {"spark.x": 4, "spark.flag": True},
                "args": ["--n", 5],
                "packages": ["a:b:1"],
            },
        },
        {"id": "q", "type": "sql", "sql": {"connection": "wh", "file": "q.sql", "fetch": 0}},
        {
            "id": "st",
            "type": "stream",
            "stream": {"application": "s.py", "mode": "continuous", "max_duration": "2h"},
        },
        {"id": "sub", "type": "subworkflow", "subworkflow": {"workflow": "other", "version": 3}},
        {
            "id": "get.1",
            "type": "http",
            "http": {
                "method": "post",
                "url": "https://api.example/{{ params.x }}",
                "json": {"a": 1},
                "timeout": "2 minutes",
                "expect_status": [200, 202],
            },
        },
        {
            "id": "nb-1",
            "type": "notebook",
            "notebook": {"path": "r.ipynb", "parameters": {"ds": "{{ run.id }}"}, "timeout": "1h"},
        },
        {
            "id": "sub2",
            "type": "subworkflow",
            "subworkflow": {"workflow": "o", "version": "latest"},
        },
        {
            "id": "loop",
            "type": "while",
            "while": {
                "condition": "i < 3",
                "loop": {"i": 0},
                "update": {"i": "{{ i + 1 }}"},
                "steps": [{"id": "b", "type": "noop"}],
            },
        },
    ]
    d = parse_definition(_doc(*steps))
    by_id = {s.id: s for s in d.steps}
    assert by_id["sl"].sleep is not None and by_id["sl"].sleep.duration == timedelta(seconds=30)
    spark = by_id["sp"].spark
    assert spark is not None
    assert spark.conf == {"spark.x": "4", "spark.flag": "true"} and spark.args == ["--n", "5"]
    stream = by_id["st"].stream
    assert stream is not None and stream.mode is StreamMode.continuous and stream.engine == "spark"
    assert by_id["st"].effective_queue == "spark"
    assert by_id["sub"].subworkflow is not None and by_id["sub"].subworkflow.version == 3
    assert by_id["sub2"].subworkflow is not None and by_id["sub2"].subworkflow.wait is True
    http = by_id["get.1"].http
    assert http is not None and http.method == "POST" and http.json_ == {"a": 1}
    assert http.timeout == timedelta(minutes=2) and http.expect_status == [200, 202]
    notebook = by_id["nb-1"].notebook
    assert notebook is not None and notebook.kernel == "python3"
    assert notebook.timeout == timedelta(hours=1)
    loop = by_id["loop"].while_
    assert loop is not None and loop.max_iterations == 1000 and loop.loop == {"i": 0}
    assert by_id["loop"].settings is loop and by_id["loop"].body is not None
    assert {s.type for s in d.steps} == set(StepType) - {StepType.foreach}


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (
            {"id": "h", "type": "http", "http": {"url": "http://x", "json": {}, "body": "b"}},
            "steps[0].http: give at most one of 'json' or 'body'",
        ),
        (
            {"id": "h", "type": "http", "http": {"url": "http://x", "expect_status": [99]}},
            "steps[0].http.expect_status[0]: invalid HTTP status 99: expected 100 to 599",
        ),
        (
            {"id": "h", "type": "http", "http": {"url": "http://x", "method": "FETCH"}},
            "steps[0].http.method: invalid value 'FETCH'",
        ),
        (
            {"id": "n", "type": "notebook", "notebook": {"path": "a", "timeout": "0s"}},
            "steps[0].notebook.timeout: must be longer than 0s",
        ),
        (
            {"id": "s", "type": "sleep", "sleep": {"duration": "{{ params.t "}},
            "steps[0].sleep.duration: ",
        ),
    ],
)
def test_http_and_notebook_settings_are_checked(step: dict[str, Any], expected: str) -> None:
    problems = _problems(_doc(step))
    assert len(problems) == 1 and problems[0].startswith(expected), problems


def test_a_templated_workflow_timeout_is_refused_saying_why_a_steps_is_kept() -> None:
    doc = _doc({"id": "s", "type": "noop", "timeout": "{{ params.t }}"})
    assert parse_definition(doc).steps[0].timeout == "{{ params.t }}"  # rendered at its start
    assert _problems({**doc, "timeout": "{{ params.t }}"}) == [
        "timeout: a template is not accepted here ('{{ params.t }}'): this duration is "
        "read before anything is rendered; write a duration such as 30s or '20 minutes'"
    ]


def test_templated_durations_stay_templates_and_round_trip() -> None:
    step = {"id": "s", "type": "sleep", "sleep": {"duration": "{{ params.t }}"}}
    d = parse_definition(_doc(step))
    assert d.steps[0].sleep is not None and d.steps[0].sleep.duration == "{{ params.t }}"
    dumped = definition_to_dict(d)
    assert dumped["steps"][0]["sleep"]["duration"] == "{{ params.t }}"
    assert parse_definition(dumped) == d


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (
            {"id": "q", "type": "sql", "sql": {"connection": "w"}},
            "steps[0].sql: give exactly one of 'query' or 'file'",
        ),
        (
            {"id": "q", "type": "sql", "sql": {"connection": "w", "query": "x", "file": "y"}},
            "steps[0].sql: give exactly one of 'query' or 'file'",
        ),
        (
            {"id": "q", "type": "sql", "sql": {"connection": "w", "query": "x", "fetch": 10001}},
            "steps[0].sql.fetch: must be at most 10000, got 10001",
        ),
        (
            {"id": "p", "type": "python", "python": {"callable": "module.function"}},
            "steps[0].python.callable: invalid callable 'module.function': "
            "write it as 'package.module:function'",
        ),
        (
            {"id": "s", "type": "spark", "spark": {"application": "a", "deploy_mode": "clster"}},
            "steps[0].spark.deploy_mode: invalid value 'clster': expected one of client, cluster"
            " — did you mean 'cluster'?",
        ),
        (
            {"id": "s", "type": "subworkflow", "subworkflow": {"workflow": "w", "version": 0}},
            "steps[0].subworkflow.version: version must be 'active', 'latest' or a version "
            "number (1, 2, ...)",
        ),
        (
            {"id": "s", "type": "sleep", "sleep": {"duration": "-1s"}},
            "steps[0].sleep.duration: invalid duration '-1s': must not be negative",
        ),
        (
            {"id": "s", "type": "stream", "stream": {"application": "a", "engine": "flink"}},
            "steps[0].stream.engine: invalid value 'flink': expected one of spark",
        ),
        (
            {
                "id": "f",
                "type": "foreach",
                "foreach": {
                    "items": "x",
                    "concurrency": 501,
                    "steps": [{"id": "a", "type": "noop"}],
                },
            },
            "steps[0].foreach.concurrency: must be at most 500, got 501",
        ),
        (
            {"id": "f", "type": "foreach", "foreach": {"items": "x", "steps": []}},
            "steps[0].foreach.steps: needs at least 1 item",
        ),
        (
            {"id": "a", "type": "noop", "retries": {"limit": 100}},
            "steps[0].retries.limit: must be at most 99, got 100",
        ),
        (
            {"id": "a", "type": "noop", "trigger_rule": "all_succes"},
            "steps[0].trigger_rule: invalid value 'all_succes': expected one of all_success, "
            "all_done, one_failed, none_failed, any_taken — did you mean 'all_success'?",
        ),
        (
            {"id": "a", "type": "noop", "env": {"1BAD": "x"}},
            "steps[0].env.1BAD: invalid key: invalid environment variable name '1BAD'",
        ),
        (
            {"id": "a", "type": "noop", "wait_for": [{"signal": "s", "timeout": "0s"}]},
            "steps[0].wait_for[0].timeout: must be longer than 0s",
        ),
        (
            {"id": "a", "type": "noop", "depends_on": [1]},
            "steps[0].depends_on[0]: expected a string, got a number",
        ),
        ("just text", "steps[0]: expected a mapping, got a string"),
    ],
)
def test_step_field_errors(step: Any, expected: str) -> None:
    assert _problems(_doc(step)) == [expected]


def test_depends_on_accepts_a_single_id() -> None:
    d = parse_definition(
        _doc({"id": "a", "type": "noop"}, {"id": "b", "type": "noop", "depends_on": "a"})
    )
    assert d.steps[1].depends_on == ["a"]


def test_effective_queue() -> None:
    d = parse_definition(
        _doc(
            {"id": "a", "type": "noop"},
            {"id": "b", "type": "spark", "spark": {"application": "x"}},
            {"id": "c", "type": "spark", "spark": {"application": "x"}, "queue": "big"},
        )
    )
    assert [s.effective_queue for s in d.steps] == ["default", "spark", "big"]


# --- DAG checks through the loader ----------------------------------------------------------


def test_dag_problems_are_reported_with_paths() -> None:
    data = _doc(
        _shell("load"),
        _shell("b", depends_on=["lod"]),
        _shell("c", depends_on=["c"]),
        _shell("load"),
        _shell("x", depends_on=["y"]),
        _shell("y", depends_on=["x"]),
    )
    assert _problems(data) == [
        "steps[1].depends_on[0]: unknown step 'lod' — did you mean 'load'?",
        "steps[2].depends_on[0]: step 'c' depends on itself",
        "steps[3].id: duplicate step id 'load' (already used by steps[0])",
        "steps[4].depends_on: cycle: x → y → x",
    ]


def test_foreach_body_is_its_own_dag() -> None:
    body = [_shell("extract"), _shell("b", depends_on=["a"]), _shell("c", depends_on=["extract"])]
    data = _doc(
        _shell("extract"),
        {"id": "loop", "type": "foreach", "foreach": {"items": "xs", "steps": body}},
    )
    assert _problems(data) == [
        "steps[1].foreach.steps[1].depends_on[0]: unknown step 'a'",
    ]


def test_dag_checks_still_run_when_other_fields_are_invalid() -> None:
    data = _doc(
        {"id": "a", "type": "noop", "priority": "high"},
        {"id": "b", "type": "noop", "depends_on": ["aa"]},
    )
    assert _problems(data) == [
        "steps[0].priority: expected an integer, got a string",
        "steps[1].depends_on[0]: unknown step 'aa' — did you mean 'a'?",
    ]


def _nested_foreach(depth: int) -> dict[str, Any]:
    step: dict[str, Any] = {"id": "leaf", "type": "noop"}
    for level in range(depth):
        step = {"id": f"f{level}", "type": "foreach", "foreach": {"items": "xs", "steps": [step]}}
    return step


def test_foreach_nests_up_to_ten_levels() -> None:
    assert parse_definition(_doc(_nested_foreach(10)))
    (problem,) = _problems(_doc(_nested_foreach(11)))
    assert problem.endswith(".foreach.steps: foreach is nested more than 10 levels deep")
    assert problem.count("foreach.steps") == 11


def _chain(n: int) -> dict[str, Any]:
    steps = [
        {"id": f"s{i}", "type": "noop", "depends_on": [f"s{i - 1}"] if i else []} for i in range(n)
    ]
    return _doc(*steps)


def test_a_ten_thousand_step_chain_validates() -> None:
    d = parse_definition(_chain(10_000))
    assert len(d.steps) == 10_000
    assert d.steps[-1].depends_on == ["s9998"]


def test_more_than_ten_thousand_steps_is_an_error() -> None:
    assert _problems(_chain(10_001)) == [
        "steps: too many steps: 10001 (at most 10000 per DAG level)"
    ]


# --- defaults -------------------------------------------------------------------------------


def test_defaults_deep_merge_and_the_step_wins() -> None:
    data = _doc(
        _shell("a", retries={"delay": "5s"}, env={"B": "step", "C": "c"}, timeout="2m"),
        _shell("b", on_failure="ignore"),
        defaults={
            "retries": {"limit": 3, "delay": "1m"},
            "env": {"A": "default", "B": "default"},
            "timeout": "1h",
            "on_failure": "fail_run",
            "priority": 5,
        },
    )
    a, b = parse_definition(data).steps
    assert a.retries.limit == 3 and a.retries.delay == timedelta(seconds=5)
    assert a.env == {"A": "default", "B": "step", "C": "c"}
    assert a.timeout == timedelta(minutes=2)
    assert a.on_failure is OnFailure.fail_run and a.priority == 5
    assert b.retries.delay == timedelta(minutes=1) and b.timeout == timedelta(hours=1)
    assert b.on_failure is OnFailure.ignore


def test_a_defaults_queue_beats_the_spark_queue() -> None:
    data = _doc(
        {"id": "s", "type": "spark", "spark": {"application": "x"}},
        {"id": "own", "type": "spark", "spark": {"application": "x"}, "queue": "mine"},
        defaults={"queue": "shared"},
    )
    s, own = parse_definition(data).steps
    assert s.effective_queue == "shared"
    assert own.effective_queue == "mine"


def test_type_settings_defaults_apply_to_their_type_only() -> None:
    data = _doc(
        {"id": "sh", "type": "shell", "shell": {"command": "ls"}},
        {"id": "sp", "type": "spark", "spark": {"application": "x", "conf": {"b": "2"}}},
        {"id": "q", "type": "sql", "sql": {"query": "select 1"}},
        {"id": "n", "type": "noop"},
        defaults={
            "shell": {"cwd": "/work", "shell": "/bin/sh"},
            "spark": {"master": "yarn", "conf": {"a": "1", "b": "1"}},
            "sql": {"connection": "warehouse"},
        },
    )
    sh, sp, q, n = parse_definition(data).steps
    assert sh.shell == ShellSettings(command="ls", cwd="/work", shell="/bin/sh")
    assert sp.spark is not None and sp.spark.master == "yarn"
    assert sp.spark.conf == {"a": "1", "b": "2"}
    assert q.sql is not None and q.sql.connection == "warehouse"
    assert n.settings is None and n.shell is None


def test_defaults_reach_steps_nested_in_foreach_bodies() -> None:
    inner = {"id": "deep", "type": "shell", "shell": {"command": "x"}}
    data = _doc(_nested_foreach(3) | {}, defaults={"pool": "p", "shell": {"cwd": "/d"}})
    data["steps"][0]["foreach"]["steps"][0]["foreach"]["steps"][0]["foreach"]["steps"] = [inner]
    d = parse_definition(data)
    level = d.steps[0]
    for _ in range(3):
        assert level.pool == "p"
        assert level.foreach is not None
        level = level.foreach.steps[0]
    assert level.id == "deep" and level.pool == "p"
    assert level.shell is not None and level.shell.cwd == "/d"


def test_a_step_can_clear_a_default_with_null() -> None:
    data = _doc(_shell("a", timeout=None), _shell("b"), defaults={"timeout": "1h"})
    a, b = parse_definition(data).steps
    assert a.timeout is None and b.timeout == timedelta(hours=1)


def test_defaults_are_validated_on_their_own() -> None:
    data = _doc(
        {"id": "a", "type": "sql", "sql": {"query": "select 1"}},
        defaults={
            "timeout": "soon",
            "sql": {"connection": "w", "fetch": -1},
            "spark": {"executor_cores": 0},
            "trigger_rule": "sometimes",
        },
    )
    assert _problems(data) == [
        "defaults.timeout: invalid duration 'soon': use a number with units s, m, h, d "
        "such as 30s or 1h30m, or spelled: '20 minutes', '1 hour 30 minutes'",
        "defaults.sql.fetch: must be at least 0, got -1",
        "defaults.spark.executor_cores: must be at least 1, got 0",
        "defaults.trigger_rule: invalid value 'sometimes': expected one of all_success, "
        "all_done, one_failed, none_failed, any_taken",
        # the invalid sql defaults are not merged, so the step lacks its connection
        "steps[0].sql.connection: required key 'connection' is missing",
    ]


def test_defaults_must_be_a_mapping() -> None:
    assert _problems(_doc(defaults=["x"])) == ["defaults: expected a mapping, got a list"]
    assert _problems(_doc(defaults=None)) == ["defaults: expected a mapping, got null"]


# --- expressions ----------------------------------------------------------------------------


def test_expression_syntax_is_checked_everywhere_it_is_used() -> None:
    pytest.importorskip("maestro.expressions")
    data = _doc(
        _shell("a", when="a >", env={"X": "{{ y"}),
        {
            "id": "loop",
            "type": "foreach",
            "foreach": {
                "items": "params.tables +",
                "steps": [
                    {
                        "id": "c",
                        "type": "noop",
                        "emit": [{"signal": "s", "payload": {"k": "{{ }}"}}],
                    }
                ],
            },
        },
        {"id": "d", "type": "shell", "shell": {"command": "echo {{ params.x | }}"}},
        params={"p": {"default": "{% if %}"}, "x": {"default": ""}},
        triggers=[{"signal": "s", "params": {"x": "{{ 1 + }}"}}],
        outputs={"rows": "{{ x }"},
    )
    locs = [p.split(":")[0] for p in _problems(data)]
    assert locs == [
        "params.p.default",
        "triggers[0].params.x",
        "outputs.rows",
        "steps[0].when",
        "steps[0].env.X",
        "steps[1].foreach.items",
        "steps[1].foreach.steps[0].emit[0].payload.k",
        "steps[2].shell.command",
    ]


def test_items_and_when_accept_bare_or_braced_expressions() -> None:
    pytest.importorskip("maestro.expressions")
    body = [{"id": "c", "type": "noop"}]
    data = _doc(
        {"id": "a", "type": "foreach", "foreach": {"items": "params.tables", "steps": body}},
        {"id": "b", "type": "foreach", "foreach": {"items": "{{ params.tables }}", "steps": body}},
        {"id": "c", "type": "noop", "when": "{{ steps.a.status == 'SUCCEEDED' }}"},
        {"id": "d", "type": "noop", "when": "steps.a.outputs.count > 0"},
    )
    assert len(parse_definition(data).steps) == 4


def test_templates_in_free_text_are_not_checked() -> None:
    pytest.importorskip("maestro.expressions")
    d = parse_definition(_doc({"id": "a", "type": "noop", "description": "use {{ like this"}))
    assert d.steps[0].description == "use {{ like this"


# --- text, YAML and limits ------------------------------------------------------------------


def test_yaml_syntax_error_gives_line_and_column() -> None:
    (problem,) = _load_problems("id: x\nowner: y\nsteps: [a, b\n")
    assert problem.startswith("(root): invalid YAML at line 4, column 1: ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "id: x\nid: y\nowner: o\nsteps: [{id: a, type: noop}]\n",
            "id: key 'id' given twice (again at line 2); give it once",
        ),
        (
            "id: x\nowner: o\nsteps:\n  - id: a\n    type: noop\n    type: shell\n",
            "steps[0].type: key 'type' given twice (again at line 6); give it once",
        ),
        (  # JSON too (its parser keeps the last one as well)
            '{"id": "x", "owner": "o", "steps": [{"id": "a", "type": "noop", "id": "b"}]}',
            "steps[0].id: key 'id' given twice (again at line 1); give it once",
        ),
    ],
)
def test_a_key_given_twice_is_refused_where_it_is(text: str, expected: str) -> None:
    assert _load_problems(text) == [expected]


def test_a_json_key_given_twice_in_json_yaml_cannot_read_is_still_named() -> None:
    text = '{\n\t"id": "x",\n\t"id": "y",\n\t"owner": "o",\n\t"steps": []\n}'  # tabs
    assert _load_problems(text) == ["(root): key 'id' given twice; give it once"]


def test_a_yaml_merge_key_is_not_a_key_given_twice() -> None:
    text = "id: x\nowner: o\nsteps:\n  - <<: {type: noop}\n    <<: {id: a}\n"
    assert [s.id for s in load_definition(text).steps] == ["a"]


def test_a_triggers_params_are_declared_and_of_their_type_unless_templated() -> None:
    text = """
id: t
owner: o
params: {n: {type: int, default: 1}, d: {type: date, default: "2024-01-01"}}
triggers:
  - cron: "0 0 * * *"
    params: {zz: 1, n: abc, d: "{{ run.logical_date | ds }}"}
  - signal: landed
    params: {n: "{{ signal.n }}", nn: 2}
steps: [{id: a, type: noop}]
"""
    assert _load_problems(text) == [
        "triggers[0].params.zz: unknown param 'zz'",
        "triggers[0].params.n: param 'n' (int): expected an integer, got 'abc'",
        "triggers[1].params.nn: unknown param 'nn' — did you mean 'n'?",
    ]
    fixed = text.replace("zz: 1, n: abc", "n: '7'").replace(", nn: 2", "")
    (cron, _) = load_definition(fixed).triggers
    assert isinstance(cron, CronTrigger) and cron.params["n"] == "7"


def test_a_trigger_must_give_every_param_without_a_default() -> None:
    text = (
        "id: t\nowner: o\nparams: {n: {type: int}, m: {default: 1}}\n"
        "triggers: [{cron: '0 3 * * *'}, {signal: s, params: {n: 1}}]\n"
        "steps: [{id: a, type: noop}]\n"
    )
    assert _load_problems(text) == [
        "triggers[0]: param 'n' has no default and this trigger does not give it: "
        "every run it starts is refused"
    ]


@pytest.mark.parametrize(
    ("loop", "place"),
    [
        ("foreach: {items: [1], as: params, steps: [{id: b, type: noop}]}", "foreach.as"),
        ("foreach: {matrix: {index: [1]}, steps: [{id: b, type: noop}]}", "foreach.matrix.index"),
        ("while: {condition: 'x', loop: {steps: 0}, steps: [{id: b, type: noop}]}", "while.loop"),
    ],
)
def test_a_loop_variable_may_not_hide_a_name_every_expression_has(loop: str, place: str) -> None:
    kind = loop.split(":")[0]
    text = f"id: t\nowner: o\nsteps: [{{id: l, type: {kind}, {loop}}}]\n"
    (problem,) = _load_problems(text)
    assert (
        problem.startswith(f"steps[0].{place}")
        and "is a name the body's expressions use" in problem
    )


def test_a_version_stored_with_a_reserved_loop_name_still_loads() -> None:
    """The names are refused at submission, not by the model: a stored version (read with
    ``model_validate``) keeps loading."""
    body = [{"id": "b", "type": "noop"}]
    stored = {
        "id": "t",
        "owner": "o",
        "steps": [
            {"id": "l", "type": "foreach", "foreach": {"items": [1], "as": "index", "steps": body}}
        ],
    }
    assert WorkflowDefinition.model_validate(stored).steps[0].foreach.as_ == "index"


def test_a_typed_step_params_literal_value_is_checked_at_submission() -> None:
    text = (
        "id: t\nowner: o\nsteps:\n"
        "  - {id: a, type: noop, params: {n: {type: int, value: abc}, m: {type: int, value: "
        "'{{ 1 }}'}, k: {type: int, value: 3}}}\n"
        "  - {id: f, type: foreach, foreach: {items: [1], steps: [{id: b, type: noop, "
        "params: {d: {type: date, value: nope}}}]}}\n"
    )
    assert _load_problems(text) == [
        "steps[0].params.n.value: param 'n' (int): expected an integer, got 'abc'",
        "steps[1].foreach.steps[0].params.d.value: param 'd' (date): expected a date such as "
        "2024-05-01, got 'nope'",
    ]


def test_source_is_named_in_the_error() -> None:
    with pytest.raises(DefinitionError) as info:
        load_definition("- 1", source="flows/x.yaml")
    assert info.value.source == "flows/x.yaml"
    assert str(info.value).startswith("flows/x.yaml: invalid workflow definition (1 problem)")


def test_json_text_is_accepted() -> None:
    d = load_definition(json.dumps(_doc()))
    assert d == parse_definition(_doc())
    assert load_definition(json.dumps(_doc()).encode()) == d


def test_larger_than_one_mib_is_refused() -> None:
    padding = "x" * (MAX_DEFINITION_BYTES - 100)
    ok = yaml.safe_dump(_doc(description=padding))
    assert len(ok.encode()) <= MAX_DEFINITION_BYTES
    assert load_definition(ok).description == padding
    too_big = yaml.safe_dump(_doc(description=padding + "x" * 200))
    expected = ["(root): definition is larger than 1048576 bytes (1 MiB)"]
    assert _load_problems(too_big) == expected
    assert _load_problems(too_big.encode()) == expected
    # measured in UTF-8 bytes, not characters
    wide = yaml.safe_dump(_doc(description="é" * (MAX_DEFINITION_BYTES // 2 + 10)))
    assert _load_problems(wide) == expected


def test_bytes_must_be_utf8() -> None:
    assert _load_problems(b"id: \xff") == [
        "(root): definition is not UTF-8 text (bad byte at offset 4)"
    ]


def test_yaml_booleans_and_dates_follow_yaml_1_2() -> None:
    text = "id: wf\nowner: team\nparams:\n  day: {type: date, default: 2024-05-01}\n" + (
        "  flag: {type: bool, default: yes}\n  word: {default: on}\nsteps: [{id: a, type: noop}]\n"
    )
    d = load_definition(text)
    assert d.params["day"].default == "2024-05-01"
    assert d.params["flag"].default == "yes"
    assert d.params["word"].default == "on"
    assert parse_definition(definition_to_dict(d)) == d


def test_yaml_numbers_are_not_base_60_or_leading_zero_octal() -> None:
    """YAML 1.1 read ``1:30`` as 90 and ``010`` as 8: a step silently got a 90 s timeout."""
    steps = "steps: [{id: a, type: shell, shell: {command: x}, timeout: 1:30}]\n"
    (problem,) = _load_problems("id: wf\nowner: o\n" + steps)
    assert problem.startswith("steps[0].timeout: invalid duration '1:30'")
    text = (
        "id: wf\nowner: o\nparams:\n  a: {type: int, default: 010}\n"
        "  b: {type: int, default: 0o10}\n  c: {type: int, default: 0x1F}\n"
        "  d: {type: int, default: 1_000}\n  e: {default: 8e71234}\n"
        "  f: {type: float, default: -.5}\nsteps: [{id: a, type: noop}]\n"
    )
    params = {name: spec.default for name, spec in load_definition(text).params.items()}
    # as before: underscores in an integer, a float needs its dot (a tag like 8e71234 is text)
    assert params == {"a": 10, "b": 8, "c": 31, "d": 1000, "e": "8e71234", "f": -0.5}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: &a [*a]\n", "(root): definition refers to itself (recursive YAML alias)"),
        ("[" * 5000 + "]" * 5000, "(root): invalid YAML: nested too deeply"),
        ("x: !!timestamp 2024-13-45\n", "(root): invalid YAML: month must be in 1..12"),
        ("x: !!binary aGk=\n", "x: unsupported value of type bytes"),
        ("x: .nan\n", "x: numbers must be finite"),
        ("x: !!python/object:os.system {}\n", "(root): invalid YAML at line 1, column 4: "),
        ("---\na: 1\n---\nb: 2\n", "(root): invalid YAML at line 3, column 1: "),
        ("", "(root): a workflow definition is a mapping at the top level, got null"),
    ],
)
def test_hostile_yaml_is_a_definition_error(text: str, expected: str) -> None:
    (problem,) = _load_problems(text)
    assert problem.startswith(expected)


def test_alias_expansion_is_bounded() -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 8):
        prev, name = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{name}: &{name} [{', '.join(['*' + prev] * 10)}]")
    (problem,) = _load_problems("\n".join(lines))
    assert problem == "(root): definition has more than 1000000 values (YAML aliases?)"


def test_deep_plain_data_is_refused() -> None:
    value: Any = 1
    for _ in range(200):
        value = [value]
    (problem,) = _problems(_doc(params={"p": {"type": "list", "default": value}}))
    assert problem == "(root): definition is nested more than 100 levels deep"


def test_non_string_keys_become_text() -> None:
    (problem,) = _load_problems("id: wf\nowner: t\nsteps: [{id: a, type: noop, env: {1: x}}]\n")
    assert problem == "steps[0].env.1: invalid key: invalid environment variable name '1'"


def test_all_problems_come_in_document_order() -> None:
    text = """\
id: wf
owner: team
timeout: forever
steps:
  - id: a
    type: shell
    shell: {command: ls, cwdd: /}
  - id: b
    type: noop
    depends_on: [c]
max_active_steps: 0
"""
    assert _load_problems(text) == [
        "timeout: invalid duration 'forever': use a number with units s, m, h, d such as 30s "
        "or 1h30m, or spelled: '20 minutes', '1 hour 30 minutes'",
        "steps[0].shell.cwdd: unknown key 'cwdd' — did you mean 'cwd'?",
        "steps[1].depends_on[0]: unknown step 'c'",
        "max_active_steps: must be at least 1, got 0",
    ]


# --- normal form and hash -------------------------------------------------------------------

RICH: dict[str, Any] = {
    "id": "rich.flow-1",
    "owner": "team",
    "name": "Rich",
    "params": {"d": {"type": "date"}, "m": {"type": "map", "default": {"a": [1, {"b": None}]}}},
    "triggers": [
        {"cron": "*/5 * * * *", "timezone": "Europe/Paris", "params": {"d": "2024-05-01"}}
    ],
    "run_strategy": {"kind": "parallel", "max_concurrency": 7},
    "timeout": "1d2h",
    "defaults": {"retries": {"limit": 1}, "shell": {"cwd": "/w"}, "env": {"A": "1"}},
    "outputs": {"o": "{{ params.d }}"},
    "steps": [
        {"id": "a", "type": "shell", "shell": {"command": "x"}, "timeout": "90s"},
        {
            "id": "f",
            "type": "foreach",
            "depends_on": ["a"],
            "foreach": {
                "items": "[1, 2]",
                "as": "n",
                "steps": [
                    {"id": "w", "type": "noop", "wait_for": [{"signal": "s", "timeout": "5m"}]},
                    {"id": "sl", "type": "sleep", "sleep": {"duration": "1.5s"}, "depends_on": "w"},
                ],
            },
        },
        {"id": "sub", "type": "subworkflow", "subworkflow": {"workflow": "x", "params": {"a": 1}}},
        {"id": "py", "type": "python", "python": {"callable": "a.b:c"}, "emit": [{"signal": "e"}]},
    ],
}


def test_round_trip_of_a_rich_definition() -> None:
    d = parse_definition(copy.deepcopy(RICH))
    data = definition_to_dict(d)
    assert json.loads(json.dumps(data)) == data
    assert parse_definition(data) == d
    assert data["steps"][1]["foreach"]["steps"][1]["sleep"]["duration"] == "1s500ms"
    assert data["steps"][0]["env"] == {"A": "1"} and data["steps"][0]["shell"]["cwd"] == "/w"


def test_hash_ignores_formatting_and_key_order() -> None:
    d = parse_definition(copy.deepcopy(RICH))
    reordered = dict(reversed(list(copy.deepcopy(RICH).items())))
    as_yaml = yaml.safe_dump(RICH, sort_keys=True)
    assert content_hash(parse_definition(reordered)) == content_hash(d)
    assert content_hash(load_definition(as_yaml)) == content_hash(d)
    assert content_hash(parse_definition(definition_to_dict(d))) == content_hash(d)
    # equal meaning written differently: "90s" and "1m30s" are the same duration
    same = copy.deepcopy(RICH)
    same["steps"][0]["timeout"] = "1m30s"
    assert content_hash(parse_definition(same)) == content_hash(d)


def test_hash_changes_with_content() -> None:
    d = parse_definition(copy.deepcopy(RICH))
    changed = copy.deepcopy(RICH)
    changed["steps"][0]["shell"]["command"] = "y"
    h = content_hash(d)
    assert len(h) == 64 and int(h, 16) >= 0
    assert content_hash(parse_definition(changed)) != h


def test_models_are_frozen() -> None:
    d = parse_definition(_doc())
    with pytest.raises(ValueError, match="frozen"):
        d.steps[0].id = "b"  # type: ignore[misc]  # the point: assignment must fail


# --- never anything but DefinitionError -----------------------------------------------------

_KEYS = st.sampled_from(
    [
        "id", "owner", "steps", "type", "depends_on", "shell", "command", "foreach", "items",
        "params", "default", "triggers", "cron", "signal", "defaults", "retries", "timeout",
        "run_strategy", "kind", "sql", "query", "env", "when", "as", "spark", "application",
        "subworkflow", "version", "noop", "sleep", "duration", "x", "1",
    ]
)  # fmt: skip
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["noop", "shell", "foreach", "a", "1h", "{{ x }}", "{{", "@daily"])
)
_JSONISH = st.recursive(
    _SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(_KEYS | st.text(max_size=6), children, max_size=5)
    ),
    max_leaves=30,
)


def _only_definition_errors(call: Any, arg: Any) -> None:
    try:
        result = call(arg)
    except DefinitionError as exc:
        assert exc.problems and all(p.msg for p in exc.problems)
    else:
        assert isinstance(result, WorkflowDefinition)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_JSONISH)
def test_random_documents_raise_only_definition_errors(data: Any) -> None:
    _only_definition_errors(parse_definition, data)


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(_KEYS, _JSONISH, max_size=8))
def test_random_mappings_raise_only_definition_errors(data: dict[str, Any]) -> None:
    base = _doc({"id": "a", "type": "noop"})
    _only_definition_errors(parse_definition, {**base, **data})


_FRAGMENTS = st.sampled_from(
    ["id: ", "owner: ", "steps:", "\n", "  - ", "{", "}", "[", "]", ": ", "&a ", "*a", "!!", "'",
     '"', "#", "---", "type: noop", "x", "1", "- id: a", "\t", "|", ">", "? ", "%YAML 1.2"]
)  # fmt: skip


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=200) | st.lists(_FRAGMENTS, max_size=30).map("".join))
def test_random_text_raises_only_definition_errors(text: str) -> None:
    _only_definition_errors(load_definition, text)
    _only_definition_errors(load_definition, text.encode("utf-8", "surrogatepass"))


def test_a_map_may_hold_at_most_max_map_keys_keys() -> None:
    """A 1 MB map of 100,000 keys took 9.5 s to validate: refused early, with its path."""
    env = "".join(f"      K{i}: v\n" for i in range(MAX_MAP_KEYS + 1))
    yaml_text = f"id: w\nowner: t\nsteps:\n  - id: a\n    type: noop\n    env:\n{env}"
    as_json = json.dumps(
        {
            "id": "w",
            "owner": "t",
            "steps": [
                {"id": "a", "type": "noop", "env": {f"K{i}": "v" for i in range(MAX_MAP_KEYS + 1)}}
            ],
        }
    )
    for text in (yaml_text, as_json):
        with pytest.raises(DefinitionError) as caught:
            load_definition(text)
        assert [(p.loc, p.msg) for p in caught.value.problems] == [
            (("steps", 0, "env"), f"a map with more than {MAX_MAP_KEYS} keys")
        ]
    just_enough = "".join(f"      K{i}: v\n" for i in range(MAX_MAP_KEYS))
    definition = load_definition(
        f"id: w\nowner: t\nsteps:\n  - id: a\n    type: noop\n    env:\n{just_enough}"
    )
    assert len(next(iter(definition.steps)).env) == MAX_MAP_KEYS
