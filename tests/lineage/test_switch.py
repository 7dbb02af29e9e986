"""Lineage is off unless OPENLINEAGE_URL, an openlineage.yml or MAESTRO_OPENLINEAGE=1 says
otherwise, and off costs nothing: neither the OpenLineage client nor sqlglot is imported and
nothing is sent. On, one environment variable is enough (``maestro run`` against a real
receiver)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from maestro import lineage
from tests.support.openlineage import LineageReceiver

ROOT = Path(__file__).resolve().parents[2]


def _environ(**extra: str) -> dict[str, str]:
    """The tests' environment without any lineage variable, plus ``extra``."""
    prefixes = ("OPENLINEAGE", lineage.SWITCH)
    return {**{k: v for k, v in os.environ.items() if not k.startswith(prefixes)}, **extra}


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        ({"MAESTRO_OPENLINEAGE": "1"}, True),
        ({"OPENLINEAGE_URL": "http://marquez:5000"}, True),
        ({"OPENLINEAGE_URL": " "}, False),
        ({"MAESTRO_OPENLINEAGE": "0", "OPENLINEAGE_URL": "http://marquez:5000"}, False),
        ({"OPENLINEAGE_DISABLED": "true", "MAESTRO_OPENLINEAGE": "1"}, False),
    ],
)
def test_the_switch(environ: dict[str, str], on: bool, tmp_path: Path) -> None:
    assert lineage.enabled({**environ, "HOME": str(tmp_path)}, cwd=tmp_path) is on


def test_an_openlineage_yml_found_the_openlineage_way_turns_it_on(tmp_path: Path) -> None:
    home, cwd, named = tmp_path / "home", tmp_path / "cwd", tmp_path / "conf.yml"
    (home / ".openlineage").mkdir(parents=True)
    cwd.mkdir()
    env = {"HOME": str(home)}
    assert not lineage.enabled(env, cwd=cwd)
    named.write_text("transport: {type: console}\n")
    assert lineage.enabled({**env, "OPENLINEAGE_CONFIG": str(named)}, cwd=cwd)
    (cwd / "openlineage.yml").write_text("transport: {type: console}\n")
    assert lineage.enabled(env, cwd=cwd)
    (cwd / "openlineage.yml").unlink()
    (home / ".openlineage" / "openlineage.yml").write_text("transport: {type: console}\n")
    assert lineage.enabled(env, cwd=cwd)
    assert not lineage.enabled({**env, "OPENLINEAGE_DISABLED": "true"}, cwd=cwd)


def test_on_without_the_client_warns_and_runs_without_lineage(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("MAESTRO_OPENLINEAGE", "1")
    monkeypatch.setattr(lineage._sink, "module", "maestro.lineage.not_installed")
    monkeypatch.setattr(lineage._sink, "_made", [])
    with caplog.at_level(logging.WARNING, logger="maestro.lineage"):
        assert lineage.sink() is None
    assert "maestro-py[observability]" in caplog.text


# One process that runs a workflow with a sql step on an engine with real worker threads:
# what did it import?
OFF_PROBE = textwrap.dedent(
    """
    import json, os, sys, tempfile, time
    from pathlib import Path

    from maestro.definition import load_definition
    from maestro.engine.core import Engine
    from maestro.engine.runs import create_run
    from maestro.engine.start import start_run
    from maestro.engine.workflows import submit
    from maestro.reads import run_view
    from maestro.settings import load_settings
    from maestro.store.db import Database
    from maestro.store.migrate import upgrade
    from workers.executor import AttemptExecutor
    from workers.local import LocalDispatcher

    home = Path(tempfile.mkdtemp())
    os.environ["MAESTRO_CONN_WH"] = f"duckdb:///{home}/wh.duckdb"
    settings = load_settings(home=home, project_dir=home)
    db = Database(settings.effective_database_url)
    upgrade(db)
    eng = Engine(db, settings)
    eng.dispatcher = dispatcher = LocalDispatcher(AttemptExecutor(eng), 2)
    definition = load_definition(
        "id: off\\nowner: t\\nsteps:\\n  - id: s\\n    type: sql\\n"
        "    outputs: file:///x\\n"
        "    sql: {connection: wh, query: 'create table t as select 1 as a'}\\n"
    )
    with eng.unit() as u:
        submit(u, definition)
    with eng.unit() as u:
        run_id = create_run(u, eng.versions, "off")
        start_run(u, eng.versions, run_id)
    for _ in range(400):
        with db.read() as conn:
            view = run_view(conn, run_id)
        if view.status == "SUCCEEDED":
            break
        time.sleep(0.05)
    dispatcher.close()
    print(json.dumps({
        "status": view.status,
        "lineage": eng.lineage is not None,
        "imported": sorted(
            m for m in sys.modules if m.startswith(("openlineage", "sqlglot"))
        ),
    }))
    """
)


@pytest.mark.parametrize(
    "extra",
    [{}, {"MAESTRO_OPENLINEAGE": "0"}, {"OPENLINEAGE_DISABLED": "true"}],
    ids=["unset", "MAESTRO_OPENLINEAGE=0", "OPENLINEAGE_DISABLED"],
)
def test_off_imports_no_client_and_sends_nothing(
    receiver: LineageReceiver, extra: dict[str, str], tmp_path: Path
) -> None:
    if extra:  # an explicit off wins over a URL set for the whole platform
        extra = {**extra, "OPENLINEAGE_URL": receiver.url}
    done = subprocess.run(
        [sys.executable, "-c", OFF_PROBE],
        capture_output=True,
        text=True,
        timeout=120,
        env=_environ(HOME=str(tmp_path), **extra),
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"status": "SUCCEEDED", "lineage": False, "imported": []}
    assert receiver.received() == []


def test_one_variable_sends_a_maestro_runs_events(
    receiver: LineageReceiver, tmp_path: Path
) -> None:
    workflow = tmp_path / "hello.yaml"
    workflow.write_text(
        textwrap.dedent(
            """
            id: hello
            owner: t
            steps:
              - {id: greet, type: shell, shell: {command: "echo hello"}}
            """
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "maestro", "run", str(workflow)],
        capture_output=True,
        text=True,
        timeout=120,
        env=_environ(
            HOME=str(tmp_path),
            MAESTRO_HOME=str(tmp_path / "home"),
            OPENLINEAGE_URL=receiver.url,
            OPENLINEAGE_NAMESPACE="etl",
        ),
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    events = receiver.received()
    assert receiver.paths == {"/api/v1/lineage"}
    assert sorted((e["job"]["name"], e["eventType"]) for e in events) == [
        ("hello", "COMPLETE"),
        ("hello", "START"),
        ("hello.greet", "COMPLETE"),
        ("hello.greet", "START"),
    ]
    assert {e["job"]["namespace"] for e in events} == {"etl"}
