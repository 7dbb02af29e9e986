"""The run events of a run, as an OpenLineage backend receives them: over HTTP from
``OPENLINEAGE_URL`` to a real receiver on loopback, and to the file an ``openlineage.yml``
names (``lineaged``), on SQLite and PostgreSQL (``db_url``)."""

from __future__ import annotations

import textwrap
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from maestro import __version__
from maestro.engine.actions import stop_run
from maestro.lineage.records import run_uuid
from maestro.store.records import load_run
from tests.lineage.conftest import Lineaged

DIAMOND = """
id: diamond
owner: t
steps:
  - {id: a, type: noop}
  - {id: b, type: shell, depends_on: [a], shell: {command: "echo b"}}
  - {id: c, type: noop, depends_on: [a]}
  - {id: d, type: noop, depends_on: [b, c]}
"""


def _run_id(lineaged: Lineaged, run_id: int) -> str:
    with lineaged.harness.db.read() as conn:
        run = load_run(conn, run_id)
    return str(run_uuid("run", run.id, run.created_at))


def _parent(event: dict[str, Any]) -> tuple[str, str, str] | None:
    facet = event["run"]["facets"].get("parent")
    if facet is None:
        return None
    return facet["job"]["namespace"], facet["job"]["name"], facet["run"]["runId"]


def _time(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["eventTime"])


def test_a_diamond_run_starts_and_completes_with_each_step_under_it(lineaged: Lineaged) -> None:
    run_id = lineaged.harness.start(DIAMOND)
    assert lineaged.harness.drain(run_id).status == "SUCCEEDED"
    assert lineaged.states() == {
        "diamond": ["START", "COMPLETE"],
        "diamond.a": ["START", "COMPLETE"],
        "diamond.b": ["START", "COMPLETE"],
        "diamond.c": ["START", "COMPLETE"],
        "diamond.d": ["START", "COMPLETE"],
    }
    events = lineaged.events()
    run_start, run_end = lineaged.events("diamond")
    own = _run_id(lineaged, run_id)
    assert run_start["run"]["runId"] == run_end["run"]["runId"] == own
    assert _parent(run_start) is None
    assert run_start["job"]["namespace"] == "maestro"
    assert run_start["job"]["facets"]["jobType"]["jobType"] == "DAG"
    assert run_start["producer"] == f"https://pypi.org/project/maestro-py/{__version__}/"
    assert run_start["schemaURL"].startswith("https://openlineage.io/spec/")
    step_ids = set()
    for step in "abcd":
        start, end = lineaged.events(f"diamond.{step}")
        assert start["run"]["runId"] == end["run"]["runId"]
        step_ids.add(start["run"]["runId"])
        assert _parent(start) == _parent(end) == ("maestro", "diamond", own)
        assert start["job"]["facets"]["jobType"]["jobType"] == "TASK"
        assert _time(run_start) <= _time(start) < _time(end) <= _time(run_end)
    assert len(step_ids | {own}) == 5  # every row its own run id
    # the DAG's edges in time: a step starts after its upstreams completed
    ends = {e["job"]["name"]: _time(e) for e in events if e["eventType"] == "COMPLETE"}
    starts = {e["job"]["name"]: _time(e) for e in events if e["eventType"] == "START"}
    assert starts["diamond.b"] > ends["diamond.a"] and starts["diamond.c"] > ends["diamond.a"]
    assert starts["diamond.d"] > max(ends["diamond.b"], ends["diamond.c"])
    assert events[0]["eventType"] == "START" and events[0]["job"]["name"] == "diamond"


def test_a_failed_step_fails_its_run_with_the_error(lineaged: Lineaged) -> None:
    run_id = lineaged.harness.start(
        """
        id: broken
        owner: t
        steps:
          - {id: ok, type: noop}
          - {id: boom, type: shell, depends_on: [ok], shell: {command: "echo no >&2; exit 3"}}
          - {id: never, type: noop, depends_on: [boom]}
        """
    )
    assert lineaged.harness.drain(run_id).status == "FAILED"
    assert lineaged.states() == {
        "broken": ["START", "FAIL"],
        "broken.ok": ["START", "COMPLETE"],
        "broken.boom": ["START", "FAIL"],
        # never ran (UPSTREAM_FAILED): no run of its job
    }
    (fail,) = [e for e in lineaged.events("broken.boom") if e["eventType"] == "FAIL"]
    assert "exit" in fail["run"]["facets"]["errorMessage"]["message"]
    assert fail["run"]["facets"]["errorMessage"]["programmingLanguage"] == "python"
    (run_fail,) = [e for e in lineaged.events("broken") if e["eventType"] == "FAIL"]
    assert run_fail["run"]["facets"]["errorMessage"]["message"]


def test_a_stopped_run_aborts(lineaged: Lineaged) -> None:
    h = lineaged.harness
    h.executor.follow = None  # `second` must stay QUEUED after `first`'s report
    run_id = h.start(
        """
        id: halted
        owner: t
        steps:
          - {id: first, type: noop}
          - {id: second, type: noop, depends_on: [first]}
        """
    )
    h.step_once()  # `first` runs; `second` is handed to a worker, not claimed
    assert h.statuses(run_id) == {"first": "SUCCEEDED", "second": "QUEUED"}
    stop_run(h.engine, run_id, "alice")
    assert h.view(run_id).status == "STOPPED"
    assert lineaged.states() == {
        "halted": ["START", "ABORT"],
        "halted.first": ["START", "COMPLETE"],
    }


def test_foreach_iterations_are_children_of_their_step(lineaged: Lineaged) -> None:
    run_id = lineaged.harness.start(
        """
        id: fan
        owner: t
        steps:
          - id: each
            type: foreach
            foreach:
              items: [1, 2, 3]
              steps:
                - {id: work, type: noop}
        """
    )
    assert lineaged.harness.drain(run_id).status == "SUCCEEDED"
    states = lineaged.states()
    assert states["fan"] == ["START", "COMPLETE"]
    assert states["fan.each"] == ["START", "COMPLETE"]
    assert (
        states["fan.each.iteration"] == ["START", "COMPLETE"] * 3
        or sorted(states["fan.each.iteration"]) == ["COMPLETE"] * 3 + ["START"] * 3
    )
    step_start = lineaged.events("fan.each")[0]
    step = ("maestro", "fan.each", step_start["run"]["runId"])
    assert _parent(step_start) == ("maestro", "fan", _run_id(lineaged, run_id))
    iterations = lineaged.events("fan.each.iteration")
    assert {e["run"]["runId"] for e in iterations}.__len__() == 3
    assert {_parent(e) for e in iterations} == {step}
    works = lineaged.events("fan.each.work")
    assert len(works) == 6
    by_iteration = {e["run"]["runId"] for e in iterations}
    assert {_parent(e)[2] for e in works if _parent(e)} == by_iteration  # type: ignore[index]
    (step_end,) = [e for e in lineaged.events("fan.each") if e["eventType"] == "COMPLETE"]
    assert all(_time(e) <= _time(step_end) for e in iterations)
    assert all(_time(e) >= _time(step_start) for e in iterations)


def test_declared_datasets_are_the_steps_inputs_and_outputs(lineaged: Lineaged) -> None:
    run_id = lineaged.harness.start(
        """
        id: declared
        owner: t
        steps:
          - id: load
            type: noop
            inputs:
              - {namespace: "postgres://db:5432", name: sales.public.orders}
              - s3://raw-bucket/orders/2026.csv
            outputs: file:///data/orders.parquet
        """
    )
    assert lineaged.harness.drain(run_id).status == "SUCCEEDED"
    for event in lineaged.events("declared.load"):
        assert [(d["namespace"], d["name"]) for d in event["inputs"]] == [
            ("postgres://db:5432", "sales.public.orders"),
            ("s3://raw-bucket", "orders/2026.csv"),
        ]
        assert [(d["namespace"], d["name"]) for d in event["outputs"]] == [
            ("file", "/data/orders.parquet")
        ]
    for event in lineaged.events("declared"):
        assert event["inputs"] == [] and event["outputs"] == []


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "wh.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute("create table orders (id int, amount int)")
        conn.execute("create schema crm")
        conn.execute("create table crm.customers (id int, name text)")
        conn.execute("insert into orders values (1, 10), (2, 20)")
        conn.execute("insert into crm.customers values (1, 'a'), (2, 'b')")
    monkeypatch.setenv("MAESTRO_CONN_WH", f"duckdb:///{path}")
    return path


def test_a_sql_steps_tables_are_read_from_its_statement(
    lineaged: Lineaged, warehouse: Path
) -> None:
    run_id = lineaged.harness.start(
        textwrap.dedent(
            """
            id: etl
            owner: t
            steps:
              - id: totals
                type: sql
                sql:
                  connection: wh
                  query: >
                    create table totals as
                    with joined as (select o.amount, c.name from orders o
                                    join crm.customers c on c.id = o.id)
                    select name, sum(amount) as total from joined group by name
              - id: declared
                type: sql
                depends_on: [totals]
                outputs: [{namespace: "duckdb://elsewhere", name: main.report}]
                sql: {connection: wh, query: "insert into orders select * from orders"}
            """
        )
    )
    assert lineaged.harness.drain(run_id).status == "SUCCEEDED"
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        assert conn.execute("select count(*) from totals").fetchone() == (2,)
    namespace = f"duckdb://{warehouse}"
    start, end = lineaged.events("etl.totals")
    for event in (start, end):
        assert sorted((d["namespace"], d["name"]) for d in event["inputs"]) == [
            (namespace, "crm.customers"),
            (namespace, "main.orders"),
        ]
        assert [(d["namespace"], d["name"]) for d in event["outputs"]] == [
            (namespace, "main.totals")
        ]
        assert "create table totals" in event["job"]["facets"]["sql"]["query"]
    # declared datasets win over the statement's
    for event in lineaged.events("etl.declared"):
        assert event["inputs"] == []
        assert [(d["namespace"], d["name"]) for d in event["outputs"]] == [
            ("duckdb://elsewhere", "main.report")
        ]


def test_a_step_stopped_while_it_waits_for_its_iterations_aborts_with_them(
    lineaged: Lineaged,
) -> None:
    h = lineaged.harness
    run_id = h.start(
        """
        id: fanstop
        owner: t
        steps:
          - id: each
            type: foreach
            foreach:
              items: [1, 2]
              steps:
                - {id: work, type: noop}
        """
    )
    # the iterations started; their steps are handed to workers, not claimed
    assert h.statuses(run_id) == {"each": "WAITING"}
    stop_run(h.engine, run_id, "alice")
    assert h.view(run_id).status == "STOPPED"
    states = lineaged.states()
    step_run = lineaged.events("fanstop.each")[0]["run"]["runId"]
    assert states["fanstop"] == ["START", "ABORT"]
    assert states["fanstop.each"] == ["START", "ABORT"]
    # each iteration that started aborts, under the step; one still queued sends nothing
    iterations: dict[str, list[str]] = {}
    for event in lineaged.events("fanstop.each.iteration"):
        iterations.setdefault(event["run"]["runId"], []).append(event["eventType"])
        assert _parent(event) == ("maestro", "fanstop.each", step_run)
    assert iterations and all(kinds == ["START", "ABORT"] for kinds in iterations.values())
    assert "fanstop.each.work" not in states  # never claimed: no run of its job
