"""The ``maestro`` command as a user runs it: a real subprocess, real exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def maestro(*args: str, home: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MAESTRO_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "maestro", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
    )


EXPECTED_OUTPUTS = {
    "hello.yaml": {"greeting": "hello world", "letters": 10},
    "diamond.yaml": {"sum": 15, "sum_of_squares": 55, "mean": 3.0},
    "retries.yaml": {"download_attempts": 3},
    "conditions.yaml": {"mode": "incremental"},
    "daily_etl.yaml": {"plays": 1000, "titles": 5, "countries": 4, "top_title": "Stranger Things"},
    "streaming.yaml": {
        "first_run_events": 300,
        "first_run_batches": 3,
        "catch_up_events": 200,  # only the files that landed after the first run
        "catch_up_batches": 2,
    },
    "foreach.yaml": {"tables": 3, "rows": 170},
    "subworkflow.yaml": {"location": "warehouse.plays"},
    "signals.yaml": {"waited": "SUCCEEDED"},
}
#: other workflows an example needs in the store (the ones its subworkflow steps start)
EXTRA_ARGS = {"subworkflow.yaml": ["--with", str(EXAMPLES / "subflows" / "publish_table.yaml")]}


@pytest.mark.parametrize("example", sorted(EXPECTED_OUTPUTS))
def test_every_example_runs_to_success_with_its_outputs(example: str, tmp_path: Path) -> None:
    result = maestro(
        "run", str(EXAMPLES / example), "--json", *EXTRA_ARGS.get(example, []), home=tmp_path
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)  # exactly one JSON document on stdout
    assert doc["status"] == "SUCCEEDED"
    for key, value in EXPECTED_OUTPUTS[example].items():
        assert doc["outputs"][key] == value
    assert set(doc) >= {"run_id", "status", "outputs", "steps"}
    assert all({"status", "attempts", "outputs"} <= set(s) for s in doc["steps"].values())


def test_every_example_file_is_covered() -> None:
    assert {p.name for p in EXAMPLES.glob("*.yaml")} == set(EXPECTED_OUTPUTS)


def test_params_from_the_command_line(tmp_path: Path) -> None:
    result = maestro(
        "run", str(EXAMPLES / "hello.yaml"), "--param", "who=Ada Lovelace", "--json", home=tmp_path
    )
    assert json.loads(result.stdout)["outputs"] == {"greeting": "hello Ada Lovelace", "letters": 16}


def test_the_summary_table_and_the_store_under_maestro_home(tmp_path: Path) -> None:
    result = maestro("run", str(EXAMPLES / "hello.yaml"), home=tmp_path)
    assert result.returncode == 0
    assert "run SUCCEEDED" in result.stdout
    assert "greet" in result.stdout and "count" in result.stdout
    assert (tmp_path / "maestro.db").exists()
    logs = list((tmp_path / "logs").rglob("*.log"))
    assert any("hello, world" in p.read_text() for p in logs)


def test_a_failed_run_exits_1_and_names_the_log(tmp_path: Path) -> None:
    wf = tmp_path / "fail.yaml"
    wf.write_text(
        "id: f\nowner: t\nsteps:\n"
        "  - {id: boom, type: shell, shell: {command: 'echo oops >&2; exit 4'}}\n"
    )
    result = maestro("run", str(wf), home=tmp_path)
    assert result.returncode == 1
    assert "run FAILED" in result.stdout
    assert "command exited with code 4" in result.stdout
    log_line = next(line for line in result.stdout.splitlines() if line.startswith("log of boom"))
    assert Path(log_line.split(": ", 1)[1]).read_text().endswith("oops\n")
    as_json = maestro("run", str(wf), "--json", home=tmp_path)
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)["steps"]["boom"]["status"] == "FAILED"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            "id: x\nowner: t\nsteps:\n  - {id: a, type: noop, dependson: [b]}\n",
            "steps[0].dependson: unknown key 'dependson' — did you mean 'depends_on'?",
        ),
        (
            "id: x\nowner: t\nsteps:\n  - {id: load, type: noop}\n"
            "  - {id: b, type: noop, depends_on: [lod]}\n",
            "steps[1].depends_on[0]: unknown step 'lod' — did you mean 'load'?",
        ),
        ("id: x\nowner: t\nsteps: [\n", "invalid YAML"),
    ],
)
def test_bad_definitions_exit_2_with_the_path_and_no_traceback(
    tmp_path: Path, content: str, expected: str
) -> None:
    wf = tmp_path / "bad.yaml"
    wf.write_text(content)
    result = maestro("run", str(wf), home=tmp_path)
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    validated = maestro("validate", str(wf), home=tmp_path)
    assert validated.returncode == 1
    assert expected in validated.stderr


def test_bad_params_and_missing_files_exit_2(tmp_path: Path) -> None:
    hello = str(EXAMPLES / "hello.yaml")
    unknown = maestro("run", hello, "--param", "whom=x", home=tmp_path)
    assert unknown.returncode == 2
    assert "unknown param 'whom'" in unknown.stderr and "did you mean 'who'" in unknown.stderr
    malformed = maestro("run", hello, "--param", "who", home=tmp_path)
    assert malformed.returncode == 2 and "expected NAME=VALUE" in malformed.stderr
    missing = maestro("run", str(tmp_path / "nope.yaml"), home=tmp_path)
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    for r in (unknown, malformed, missing):
        assert "Traceback" not in r.stderr


def test_validate_and_graph(tmp_path: Path) -> None:
    diamond = str(EXAMPLES / "diamond.yaml")
    ok = maestro("validate", diamond, home=tmp_path)
    assert ok.returncode == 0 and "valid workflow 'diamond' with 4 step(s)" in ok.stdout
    dot = maestro("graph", diamond, "--format", "dot", home=tmp_path)
    assert dot.returncode == 0 and dot.stdout.startswith("digraph")
    assert '"extract" -> "sum"' in dot.stdout
    mermaid = maestro("graph", diamond, home=tmp_path)
    assert mermaid.returncode == 0 and mermaid.stdout.startswith("flowchart")
    assert mermaid.stdout.count("-->") == 4


def test_ctrl_c_stops_the_run_and_kills_its_processes(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    wf = tmp_path / "slow.yaml"
    wf.write_text(
        "id: slow\nowner: t\nsteps:\n"
        f"  - {{id: s, type: shell, shell: {{command: 'echo $$ > {pidfile}; exec sleep 120'}}}}\n"
    )
    env = {**os.environ, "MAESTRO_HOME": str(tmp_path), "MAESTRO_KILL_GRACE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "maestro", "run", str(wf)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not pidfile.exists() or not pidfile.read_text().strip():
        assert time.monotonic() < deadline, "the step never started"
        time.sleep(0.05)
    step_pid = int(pidfile.read_text())
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "run stopped" in stderr
    deadline = time.monotonic() + 10
    while Path(f"/proc/{step_pid}").exists() and "Z" not in _state(step_pid):
        assert time.monotonic() < deadline, "the step's process survived the stop"
        time.sleep(0.05)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return "Z"
