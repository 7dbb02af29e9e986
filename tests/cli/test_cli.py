"""The ``maestro`` command as a user runs it: a real subprocess, real exit codes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from xml.etree import ElementTree

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def maestro(
    *args: str, home: Path, timeout: float = 120, **env_vars: str
) -> subprocess.CompletedProcess[str]:
    """``maestro ARGS`` with MAESTRO_HOME=home (and ``env_vars``: MAESTRO_X="…")."""
    env = {**os.environ, "MAESTRO_HOME": str(home), **env_vars}
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
    "maestro_style.yaml": {"total": 29, "mean": 7.25},
    "alerts.yaml": {"load_attempts": 2},
    "branches_and_loops.yaml": {"branch": "big", "cells": 6, "doubled_until": 64, "rounds": 6},
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


def test_the_alerts_example_hears_the_retry_and_the_end(tmp_path: Path) -> None:
    result = maestro("run", str(EXAMPLES / "alerts.yaml"), "--quiet", home=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = (tmp_path / "alerts.jsonl").read_text().splitlines()
    alerts = [json.loads(line) for line in lines]
    assert [(a["event"], a["step_id"]) for a in alerts] == [
        ("step_retried", "flaky_load"),
        ("run_succeeded", None),
    ]
    assert alerts[0]["error"] == "command exited with code 75"


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
    title = next(line for line in result.stdout.splitlines() if "lines of boom's log" in line)
    assert Path(title.split("(", 1)[1].rstrip("):")).read_text().endswith("oops\n")
    as_json = maestro("run", str(wf), "--json", home=tmp_path)
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)["steps"]["boom"]["status"] == "FAILED"


def test_run_streams_each_steps_output_prefixed_with_its_id(tmp_path: Path) -> None:
    result = maestro("run", str(EXAMPLES / "hello.yaml"), home=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    greet = [line for line in lines if line.startswith("greet ")]
    assert any(line.split("| ", 1)[1] == "hello, world" for line in greet)
    assert any(line.startswith("count ") and "counting letters" in line for line in lines)
    # the log lines come before the summary table
    first_summary = next(i for i, line in enumerate(lines) if "hello · run" in line)
    assert max(lines.index(line) for line in greet) < first_summary
    quiet = maestro("run", str(EXAMPLES / "hello.yaml"), "--quiet", home=tmp_path)
    assert quiet.returncode == 0 and "hello, world" not in quiet.stdout
    assert "run SUCCEEDED" in quiet.stdout
    as_json = maestro("run", str(EXAMPLES / "hello.yaml"), "--json", home=tmp_path)
    assert json.loads(as_json.stdout)["status"] == "SUCCEEDED"  # nothing else on stdout


def test_a_failed_step_shows_its_last_20_lines_after_the_summary(tmp_path: Path) -> None:
    wf = tmp_path / "fail.yaml"
    wf.write_text(
        "id: f\nowner: t\nsteps:\n"
        "  - {id: boom, type: shell, shell: {command: 'seq 1 30; exit 3'}}\n"
    )
    result = maestro("run", str(wf), "--quiet", home=tmp_path)
    assert result.returncode == 1
    after = result.stdout.split("run FAILED", 1)[1].splitlines()
    shown = [line.strip() for line in after if line.strip().isdigit()]
    assert shown == [str(n) for n in range(11, 31)]


def test_logs_prints_a_runs_steps_from_the_embedded_store(tmp_path: Path) -> None:
    ran = maestro("run", str(EXAMPLES / "hello.yaml"), "--json", home=tmp_path)
    run_id = str(json.loads(ran.stdout)["run_id"])
    every = maestro("logs", run_id, home=tmp_path)
    assert every.returncode == 0, every.stderr
    labelled = [line.split(" | ", 1) for line in every.stdout.splitlines()]
    assert ["greet", "hello, world"] in [[a.strip(), b] for a, b in labelled]
    assert [a.strip() for a, _ in labelled][-1] == "report"  # in the order steps ran
    one = maestro("logs", run_id, "greet", home=tmp_path)
    assert one.returncode == 0 and "hello, world\n" in one.stdout and " | " not in one.stdout
    missing_run = maestro("logs", "999", home=tmp_path)
    assert missing_run.returncode == 1 and "run 999 does not exist" in missing_run.stderr
    missing_step = maestro("logs", run_id, "nope", home=tmp_path)
    assert missing_step.returncode == 1 and "has no step 'nope'" in missing_step.stderr


def test_logs_of_a_retried_step_and_of_foreach_iterations(tmp_path: Path) -> None:
    wf = tmp_path / "loop.yaml"
    wf.write_text(
        "id: loop\nowner: t\nsteps:\n"
        "  - id: each\n    type: foreach\n    foreach:\n"
        "      items: '{{ [1, 2] }}'\n"
        "      steps:\n"
        "        - {id: say, type: shell, shell: {command: 'echo item {{ item }}'}}\n"
        "  - id: flaky\n    type: shell\n    retries: {limit: 1, delay: 0}\n"
        "    shell: {command: 'echo try $MAESTRO_ATTEMPT; [ $MAESTRO_ATTEMPT = 2 ]'}\n"
    )
    ran = maestro("run", str(wf), "--json", home=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    run_id = str(json.loads(ran.stdout)["run_id"])
    text = maestro("logs", run_id, home=tmp_path).stdout
    assert "each[0].say | item 1" in text and "each[1].say | item 2" in text
    assert "flaky       | --- attempt 2" in text
    second = maestro("logs", run_id, "flaky", "--attempt", "1", home=tmp_path).stdout
    assert second.rstrip().endswith("try 1")


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


def test_messages_count_in_words_and_are_not_wrapped_in_a_pipe(tmp_path: Path) -> None:
    long_id = "a_step_with_a_name_long_enough_to_overflow_eighty_columns_on_its_own"
    wf = tmp_path / "bad.yaml"
    wf.write_text(f"id: x\nowner: t\nsteps:\n  - {{id: a, type: noop, depends_on: [{long_id}]}}\n")
    one = maestro("validate", str(wf), home=tmp_path)
    assert "invalid workflow definition (1 problem)" in one.stderr
    problem = next(line for line in one.stderr.splitlines() if "unknown step" in line)
    assert long_id in problem and len(problem) > 80  # one line, whatever its length
    wf.write_text("id: x\nowner: t\nsteps:\n  - {id: a, type: noop, depends_on: [b, c]}\n")
    assert "(2 problems)" in maestro("validate", str(wf), home=tmp_path).stderr
    param = "p" * 90
    bad = maestro("run", str(EXAMPLES / "hello.yaml"), "--param", param, home=tmp_path)
    assert bad.returncode == 2
    assert len(bad.stderr.strip().splitlines()) == 1 and param in bad.stderr


def test_validate_and_graph(tmp_path: Path) -> None:
    diamond = str(EXAMPLES / "diamond.yaml")
    ok = maestro("validate", diamond, home=tmp_path)
    assert ok.returncode == 0 and "valid workflow 'diamond' with 4 steps" in ok.stdout
    dot = maestro("graph", diamond, "--format", "dot", home=tmp_path)
    assert dot.returncode == 0 and dot.stdout.startswith("digraph")
    assert '"extract" -> "sum"' in dot.stdout
    mermaid = maestro("graph", diamond, home=tmp_path)
    assert mermaid.returncode == 0 and mermaid.stdout.startswith("flowchart")
    assert mermaid.stdout.count("-->") == 4


def test_graph_as_svg_is_the_web_views_drawing(tmp_path: Path) -> None:
    result = maestro("graph", str(EXAMPLES / "diamond.yaml"), "--format", "svg", home=tmp_path)
    assert result.returncode == 0, result.stderr
    root = ElementTree.fromstring(result.stdout.encode())  # a well-formed SVG document
    ns = {"svg": "http://www.w3.org/2000/svg"}
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and root.get("class") == "dag"
    nodes = root.findall(".//svg:g[@class='dag-node']", ns)
    assert sorted(n.get("data-step") or "" for n in nodes) == ["extract", "join", "squares", "sum"]
    assert len(root.findall(".//svg:g[@class='edges']/svg:path", ns)) == 4
    assert root.find("svg:style", ns) is not None  # stands alone, without the page's CSS
    bad = maestro("graph", str(EXAMPLES / "diamond.yaml"), "--format", "png", home=tmp_path)
    assert bad.returncode == 2 and "mermaid, dot or svg" in bad.stderr


def test_help_shows_flags_as_flags(tmp_path: Path) -> None:
    for args in (["--help"], ["run", "--help"], ["validate", "--help"]):
        shown = maestro(*args, home=tmp_path)
        assert shown.returncode == 0
        assert "<bool>" not in shown.stdout and "BOOLEAN" not in shown.stdout, args
    assert "--version" in maestro("--help", home=tmp_path).stdout


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


def test_a_bad_environment_is_one_line_naming_it_not_a_traceback(tmp_path: Path) -> None:
    hello = str(EXAMPLES / "hello.yaml")
    threads = maestro("run", hello, home=tmp_path, MAESTRO_WORKER_CONCURRENCY="abc")
    assert threads.returncode == 2
    assert threads.stderr.startswith("error: MAESTRO_WORKER_CONCURRENCY: Input should be")
    assert "'abc'" in threads.stderr
    (tmp_path / "a-file").write_text("")
    home_is_a_file = maestro("run", hello, home=tmp_path / "a-file")
    assert home_is_a_file.returncode == 2
    assert "cannot open the store at sqlite:///" in home_is_a_file.stderr
    assert "File exists" in home_is_a_file.stderr
    bogus = maestro("db", "upgrade", home=tmp_path, MAESTRO_DATABASE_URL="bogus")
    assert bogus.returncode == 2 and "cannot open the store at bogus: " in bogus.stderr
    for result in (threads, home_is_a_file, bogus):
        assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize("port", ["1", "not-a-port"])
def test_the_stores_password_is_never_printed(tmp_path: Path, port: str) -> None:
    url = f"postgresql+psycopg://etl:S3cretPw@127.0.0.1:{port}/x"
    result = maestro("db", "upgrade", home=tmp_path, MAESTRO_DATABASE_URL=url)
    assert result.returncode == 2
    assert f"cannot open the store at postgresql+psycopg://etl:***@127.0.0.1:{port}/x" in (
        result.stderr
    )
    assert "S3cretPw" not in result.stderr + result.stdout


def test_validate_warns_of_an_alert_connection_run_would_refuse(tmp_path: Path) -> None:
    wf = tmp_path / "alerting.yaml"
    wf.write_text(
        "id: alerting\nowner: t\nalerts:\n  - on: [run_failed]\n"
        '    slack: {connection: team_slack, channel: "#x"}\nsteps: [{id: a, type: noop}]\n'
    )
    validated = maestro("validate", str(wf), home=tmp_path)
    assert validated.returncode == 0  # a server may have the connection
    assert "warning: alerts[0].slack.connection: unknown connection 'team_slack'" in (
        validated.stderr
    )
    assert "`maestro run` here refuses it" in validated.stderr
    ran = maestro("run", str(wf), home=tmp_path)
    assert ran.returncode == 2 and "unknown connection 'team_slack'" in ran.stderr
    url = "https://hooks.slack.com/services/T0/B0/X"
    fine = maestro("validate", str(wf), home=tmp_path, MAESTRO_CONN_TEAM_SLACK=url)
    assert fine.returncode == 0 and "warning" not in fine.stderr, fine.stderr


def test_run_json_prints_one_json_object_on_stdout_for_an_error_too(tmp_path: Path) -> None:
    wf = tmp_path / "bad.yaml"
    wf.write_text("id: x\nowner: t\nsteps: [{id: a, type: nop}]\n")
    bad = maestro("run", str(wf), "--json", home=tmp_path)
    assert bad.returncode == 2
    body = json.loads(bad.stdout)
    assert body["error"].endswith("invalid workflow definition (1 problem)")
    assert body["exit_code"] == 2
    assert body["problems"][0]["loc"] == ["steps", 0, "type"]
    assert "did you mean 'noop'" in body["problems"][0]["msg"]
    hello = str(EXAMPLES / "hello.yaml")
    param = json.loads(maestro("run", hello, "-p", "whom=x", "--json", home=tmp_path).stdout)
    assert "unknown param 'whom'" in param["error"] and param["exit_code"] == 2
    ran = json.loads(maestro("run", hello, "--json", home=tmp_path).stdout)
    assert ran["status"] == "SUCCEEDED" and "error" in ran and ran["error"] is None


def test_a_subworkflow_not_in_the_store_is_named_before_the_run_starts(tmp_path: Path) -> None:
    parent = str(EXAMPLES / "subworkflow.yaml")
    missing = maestro("run", parent, home=tmp_path)
    assert missing.returncode == 1  # the run fails when it reaches the step
    assert missing.stderr.startswith(
        "warning: steps[1].subworkflow.workflow: workflow 'publish-table' is not in this store"
    )
    assert "--with FILE" in missing.stderr
    child = str(EXAMPLES / "subflows" / "publish_table.yaml")
    assert maestro("run", parent, "--with", child, home=tmp_path).returncode == 0
    assert maestro("run", parent, home=tmp_path).returncode == 0  # stored by then


def test_a_nested_loops_logs_are_labelled_by_their_whole_path_and_found_by_it(
    tmp_path: Path,
) -> None:
    ran = maestro("run", str(EXAMPLES / "foreach.yaml"), "--json", home=tmp_path)
    assert ran.returncode == 0, ran.stderr
    run_id = str(json.loads(ran.stdout)["run_id"])
    text = maestro("logs", run_id, home=tmp_path).stdout
    for t, table in enumerate(["plays", "ratings", "users"]):
        for part in (0, 1):
            label = f"per_table[{t}].per_partition[{part}].touch"
            assert re.search(
                rf"^{re.escape(label)} *\| touched {table} partition {part},", text, re.M
            )
    one = maestro("logs", run_id, "per_table[1].per_partition[0].touch", home=tmp_path)
    assert one.returncode == 0 and one.stdout.rstrip().endswith(
        "touched ratings partition 0, index 0"
    )
    loop = maestro("logs", run_id, "per_table", home=tmp_path)
    assert loop.returncode == 1
    assert "runs other runs; their steps have the logs: per_table[0].count" in loop.stderr
    unknown = maestro("logs", run_id, "per_table[7].count", home=tmp_path)
    assert unknown.returncode == 1 and "has no step 'per_table[7].count'" in unknown.stderr


def test_a_run_queued_behind_a_dead_processs_run_says_so(tmp_path: Path) -> None:
    wf = tmp_path / "slow.yaml"
    wf.write_text(
        "id: slow\nowner: t\nsteps: [{id: a, type: shell, shell: {command: 'sleep 60'}}]\n"
    )
    env = {**os.environ, "MAESTRO_HOME": str(tmp_path)}
    first = subprocess.Popen(
        [sys.executable, "-m", "maestro", "run", str(wf), "--quiet"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        log = tmp_path / "logs" / "1" / "a" / "1.log"
        while not log.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert log.exists(), "the first run's step never started"
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # as a crash would: run 1 stays RUNNING
        first.wait()
    second = subprocess.Popen(
        [sys.executable, "-m", "maestro", "run", str(wf), "--quiet"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, stderr = second.communicate(timeout=8)
    except subprocess.TimeoutExpired:
        os.killpg(second.pid, signal.SIGKILL)
        _, stderr = second.communicate()
    assert "run 2 is QUEUED behind run 1 (RUNNING since" in stderr
    assert "maestro standalone" in stderr
