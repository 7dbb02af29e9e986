"""Traces are off unless an OTLP endpoint or MAESTRO_OTEL=1 is set, and off costs nothing: no
OpenTelemetry SDK is imported, nothing is sent, no step gets a TRACEPARENT. On, one
environment variable is enough (``maestro run`` against a real OTLP/HTTP receiver)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from maestro import traces
from tests.support.otlp import OtlpReceiver, Tree

ROOT = Path(__file__).resolve().parents[2]


def _environ(**extra: str) -> dict[str, str]:
    """The tests' environment without any tracing variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", traces.SWITCH))}
    return {**env, **extra}


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        ({"MAESTRO_OTEL": "1"}, True),
        ({"MAESTRO_OTEL": "true"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "  "}, False),
        # an explicit off wins over an endpoint set for the whole platform
        ({"MAESTRO_OTEL": "0", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, False),
        ({"OTEL_SDK_DISABLED": "true", "MAESTRO_OTEL": "1"}, False),
    ],
)
def test_the_switch(environ: dict[str, str], on: bool) -> None:
    assert traces.enabled(environ) is on


def test_on_without_the_sdk_warns_and_runs_without_traces(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("MAESTRO_OTEL", "1")
    monkeypatch.setattr(traces._sink, "module", "maestro.traces.not_installed")
    monkeypatch.setattr(traces._sink, "_made", [])
    with caplog.at_level(logging.WARNING, logger="maestro.traces"):
        assert traces.sink() is None
    assert "maestro-py[observability]" in caplog.text


# One process that runs a workflow on an engine with real worker threads, then builds the API
# and serves a request: what did it import, and what did its step see?
OFF_PROBE = textwrap.dedent(
    """
    import json, sys, tempfile, time
    from pathlib import Path

    def otel(prefixes):
        return sorted(m for m in sys.modules if m.startswith(prefixes))

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
    settings = load_settings(home=home, project_dir=home)
    db = Database(settings.effective_database_url)
    upgrade(db)
    eng = Engine(db, settings)
    eng.dispatcher = dispatcher = LocalDispatcher(AttemptExecutor(eng), 2)
    definition = load_definition(
        "id: off\\nowner: t\\nsteps:\\n  - id: s\\n    type: shell\\n    shell:\\n"
        "      command: 'echo \\"tp=$TRACEPARENT\\" >> $MAESTRO_OUTPUT'\\n"
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
    engine_only = otel(("opentelemetry",))

    from fastapi.testclient import TestClient
    from api.app import create_app

    with TestClient(create_app(eng, auth=False)) as client:
        assert client.get("/api/v1/workflows").status_code == 200
    dispatcher.close()
    print(json.dumps({
        "status": view.status,
        "outputs": view.steps[0].outputs,
        "spans": eng.spans is not None,
        "engine_only": engine_only,
        "sdk_with_api": otel(
            ("opentelemetry.sdk", "opentelemetry.exporter", "opentelemetry.instrumentation")
        ),
    }))
    """
)


@pytest.mark.parametrize("explicit_off", [False, True], ids=["unset", "MAESTRO_OTEL=0"])
def test_off_imports_no_opentelemetry_and_sends_nothing(
    receiver: OtlpReceiver, explicit_off: bool
) -> None:
    extra = (
        {"MAESTRO_OTEL": "0", "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}
        if explicit_off
        else {}
    )
    done = subprocess.run(
        [sys.executable, "-c", OFF_PROBE],
        capture_output=True,
        text=True,
        timeout=120,
        env=_environ(**extra),
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["status"] == "SUCCEEDED"
    assert seen["outputs"] == {"tp": ""}  # no TRACEPARENT
    assert seen["spans"] is False
    # the engine and the workers import no OpenTelemetry module at all; the API (FastAPI
    # itself imports the OpenTelemetry API) loads no SDK, exporter or instrumentation
    assert seen["engine_only"] == []
    assert seen["sdk_with_api"] == []
    assert receiver.requests == 0


def test_one_variable_sends_a_maestro_run_to_the_collector(
    receiver: OtlpReceiver, tmp_path: Path
) -> None:
    workflow = tmp_path / "hello.yaml"
    workflow.write_text(
        textwrap.dedent(
            """
            id: hello
            owner: t
            steps:
              - {id: greet, type: shell, shell: {command: "echo hello"}}
              - {id: after, type: noop, depends_on: [greet]}
            """
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "maestro", "run", str(workflow)],
        capture_output=True,
        text=True,
        timeout=120,
        env=_environ(
            MAESTRO_HOME=str(tmp_path / "home"), OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint
        ),
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    # the process exported its batch as it exited: nothing is left to wait for
    spans = receiver.received()
    assert receiver.content_types == {"application/x-protobuf"}
    tree = Tree(spans)
    tree.check_well_formed()
    assert tree.render().splitlines() == [
        "run hello",
        "  step greet",
        "    attempt greet",
        "      queued",
        "  step after",
        "    attempt after",
        "      queued",
    ]
    (run,) = tree.roots()
    assert run.resource["service.name"] == "maestro"
    assert run.resource["service.version"]
    assert run.attributes["maestro.workflow.id"] == "hello"
    assert run.attributes["maestro.status"] == "SUCCEEDED"
