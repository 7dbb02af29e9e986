"""The spark runtime: the spark-submit command, then real local Spark applications.

The command building and the cluster kill commands are checked as pure functions; process
supervision with a fake ``spark-submit`` (a shell script under a fake SPARK_HOME, fast); and the
real thing with the ``spark-submit`` that pyspark ships (local[1], a few seconds each).
"""

from __future__ import annotations

import os
import stat
import textwrap
import time
from pathlib import Path

import pytest

from tests.workers.conftest import NewCtx, log_text, run_in_thread, wait_for
from workers.runtimes import submit
from workers.runtimes.spark import SparkRuntime
from workers.runtimes.submit import (
    APP_ID,
    SubmitError,
    build_command,
    find_spark_submit,
    kill_command,
    shown_command,
)

FAST_CONF = {"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "1"}


def script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/bash\n" + textwrap.dedent(body))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def process_gone(pid: int) -> bool:
    """True when ``pid`` has exited (a zombie waiting for its reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in {"Z", "X"}


# -- the command -------------------------------------------------------------------------------


def test_the_command_has_every_setting_in_spark_submit_order(tmp_path: Path) -> None:
    settings = {
        "application": "jobs/etl.py",
        "main_class": "com.example.Main",
        "deploy_mode": "client",
        "conf": {},
        "py_files": ["lib/a.py", "s3://bucket/b.zip"],
        "jars": ["/opt/x.jar"],
        "files": ["conf/app.conf#app.conf"],
        "packages": ["org.apache.spark:spark-avro_2.13:4.0.0", "io.delta:delta-spark_2.13:4.0.0"],
        "driver_memory": "2g",
        "executor_memory": "4g",
        "executor_cores": 2,
        "num_executors": 3,
        "args": ["--ds", "2024-03-01", 7],
    }
    argv = build_command(
        "/spark/bin/spark-submit",
        settings,
        master="yarn",
        conf={"spark.sql.shuffle.partitions": "4"},
        project_dir=tmp_path,
        default_name="wf.step",
    )
    assert argv == [
        "/spark/bin/spark-submit",
        "--master", "yarn",
        "--deploy-mode", "client",
        "--name", "wf.step",
        "--class", "com.example.Main",
        "--conf", "spark.sql.shuffle.partitions=4",
        "--py-files", f"{tmp_path}/lib/a.py,s3://bucket/b.zip",
        "--jars", "/opt/x.jar",
        "--files", f"{tmp_path}/conf/app.conf#app.conf",
        "--packages", "org.apache.spark:spark-avro_2.13:4.0.0,io.delta:delta-spark_2.13:4.0.0",
        "--driver-memory", "2g",
        "--executor-memory", "4g",
        "--executor-cores", "2",
        "--num-executors", "3",
        f"{tmp_path}/jobs/etl.py",
        "--ds", "2024-03-01", "7",
    ]  # fmt: skip


def test_urls_pass_through_and_a_given_name_wins(tmp_path: Path) -> None:
    argv = build_command(
        "spark-submit",
        {"application": "hdfs:///apps/job.py", "name": "nightly"},
        master="local[2]",
        conf={},
        project_dir=tmp_path,
        default_name="wf.step",
    )
    assert argv == [
        "spark-submit",
        "--master",
        "local[2]",
        "--name",
        "nightly",
        "hdfs:///apps/job.py",
    ]


def test_secret_conf_values_are_hidden_in_the_logged_command() -> None:
    argv = [
        "spark-submit",
        "--conf", "spark.hadoop.fs.s3a.secret.key=abc123",
        "--conf", "spark.ssl.keyPassword=pw",
        "--conf", "spark.executor.memory=1g",
        "app.py", "token=visible-arg",
    ]  # fmt: skip
    shown = shown_command(argv)
    assert "abc123" not in shown and "=pw" not in shown
    assert "spark.hadoop.fs.s3a.secret.key=***" in shown
    assert "spark.executor.memory=1g" in shown and "token=visible-arg" in shown


YARN_ID = "application_1700000000000_0042"
K8S_ID = "spark-0123456789abcdef0123456789abcdef"
K8S = "k8s://https://api:6443"
DRIVER = "driver-20240301120000-0001"
POD = "etl:job-driver"
STANDALONE = "spark://m:7077"


@pytest.mark.parametrize(
    ("master", "mode", "app_id", "submission", "expected"),
    [
        ("yarn", "cluster", YARN_ID, None, ["yarn", "application", "-kill", YARN_ID]),
        (K8S, "cluster", K8S_ID, POD, ["/s/bin/ss", "--master", K8S, "--kill", POD]),
        (STANDALONE, "cluster", None, DRIVER,
         ["/s/bin/spark-class", "org.apache.spark.deploy.Client", "kill", STANDALONE, DRIVER]),
        ("yarn", "client", YARN_ID, None, None),
        ("local[2]", None, "local-1700000000000", None, None),
        ("yarn", "cluster", None, None, None),
    ],
)  # fmt: skip
def test_cluster_mode_applications_get_a_kill_command(
    master: str, mode: str | None, app_id: str | None, submission: str | None, expected: object
) -> None:
    assert kill_command("/s/bin/ss", master, mode, app_id, submission) == expected


LOG_LINES = {
    f"INFO Client: Submitted application {YARN_ID}": YARN_ID,
    "INFO StandaloneSchedulerBackend: Connected to Spark cluster with app ID "
    "app-20240301120000-0003": "app-20240301120000-0003",
    "INFO RollingEventLogFilesWriter: Logging events to "
    "file:/w/eventlog_v2_local-1700000000000/events_1": "local-1700000000000",
    "INFO SingleEventLogFileWriter: Logging events to "
    "file:/w/local-1700000000000.inprogress": "local-1700000000000",
    f"Deployed Spark application x with application ID {K8S_ID} and submission ID": K8S_ID,
    "INFO SparkContext: Submitted application: t.py": None,
}


@pytest.mark.parametrize(("line", "expected"), LOG_LINES.items())
def test_application_ids_are_found_in_driver_log_lines(line: str, expected: str | None) -> None:
    match = APP_ID.search(line)
    assert (match.group(1) if match else None) == expected


def test_which_spark_submit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "spark"
    fake = script(home / "bin" / "spark-submit", "exit 0\n")
    assert find_spark_submit({"SPARK_HOME": str(home)}) == str(fake)
    with pytest.raises(SubmitError, match="is not executable"):
        find_spark_submit({"SPARK_HOME": str(tmp_path / "nowhere")})
    shipped = find_spark_submit({"PATH": ""})
    assert shipped.endswith("pyspark/bin/spark-submit")  # the one inside the pyspark package
    monkeypatch.setattr(submit, "_pyspark_spark_submit", lambda: None)
    with pytest.raises(
        SubmitError, match=r"spark-submit not found: pip install 'maestro-py\[spark\]'"
    ):
        find_spark_submit({"PATH": ""})


def test_no_spark_submit_and_a_missing_application_are_permanent(
    new_ctx: NewCtx, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, _ = new_ctx("spark", {"application": "jobs/missing.py"})
    outcome = SparkRuntime().run(ctx)
    assert (
        outcome.permanent
        and outcome.error == f"application {workdir}/jobs/missing.py does not exist"
    )
    (workdir / "app.py").write_text("")
    monkeypatch.setattr(submit, "_pyspark_spark_submit", lambda: None)
    ctx, _ = new_ctx("spark", {"application": "app.py"}, env={"PATH": str(workdir)})
    outcome = SparkRuntime().run(ctx)
    assert outcome.permanent and outcome.error is not None
    assert "pip install 'maestro-py[spark]'" in outcome.error


# -- supervision, with a fake spark-submit -----------------------------------------------------

FAKE_SUBMIT = """\
printf '%s\\n' "$@" > "$FAKE_ARGS"
echo "INFO Client: Submitted application application_1700000000000_0042"
echo "mode=${MAESTRO_STREAM_MODE:-none}" >> "$MAESTRO_OUTPUT"
case "$FAKE_MODE" in
  exit3) echo "boom" >&2; exit 3 ;;
  hang) trap 'echo stopped=graceful >> "$MAESTRO_OUTPUT"; exit 143' TERM
        while true; do sleep 0.05; done ;;
  stubborn) trap '' TERM; while true; do sleep 0.05; done ;;
  *) echo "ok=1" >> "$MAESTRO_OUTPUT" ;;
esac
"""


@pytest.fixture
def fake_spark(tmp_path: Path) -> dict[str, str]:
    """Environment for a step that runs the fake spark-submit (and a fake ``yarn``)."""
    home = tmp_path / "fake-spark"
    script(home / "bin" / "spark-submit", FAKE_SUBMIT)
    script(tmp_path / "fakebin" / "yarn", f'echo "$@" > {tmp_path}/yarn-called\n')
    (tmp_path / "project" / "app.py").write_text("")
    return {
        "SPARK_HOME": str(home),
        "FAKE_ARGS": str(tmp_path / "args"),
        "PATH": f"{tmp_path / 'fakebin'}:{os.environ['PATH']}",
    }


def test_a_non_zero_exit_fails_the_attempt_and_args_follow_the_application(
    new_ctx: NewCtx, fake_spark: dict[str, str], tmp_path: Path
) -> None:
    settings = {"application": "app.py", "args": ["--ds", "2024-03-01"]}
    ctx, ids = new_ctx("spark", settings, env={**fake_spark, "FAKE_MODE": "exit3"})
    outcome = SparkRuntime().run(ctx)
    assert (outcome.status, outcome.exit_code, outcome.permanent) == ("failed", 3, False)
    assert outcome.error == "spark-submit exited with code 3"
    args = (tmp_path / "args").read_text().split("\n")
    assert args[-4:] == [str(tmp_path / "project" / "app.py"), "--ds", "2024-03-01", ""]
    assert args[:2] == ["--master", "local[*]"]  # the context's default master
    assert ids.ids == ["application_1700000000000_0042"]
    assert "boom" in log_text(ctx)


def test_a_stop_in_yarn_cluster_mode_kills_the_group_and_the_yarn_application(
    new_ctx: NewCtx, fake_spark: dict[str, str], tmp_path: Path
) -> None:
    settings = {"application": "app.py", "master": "yarn", "deploy_mode": "cluster"}
    ctx, ids = new_ctx("spark", settings, env={**fake_spark, "FAKE_MODE": "hang"}, kill_grace=5)
    thread, result = run_in_thread(lambda: SparkRuntime().run(ctx))
    assert ids.seen.wait(20), "the application id was not recorded while running"
    ctx.cancel.set()
    thread.join(20)
    assert not thread.is_alive()
    assert result[0].status == "failed" and result[0].error == "cancelled"
    assert (tmp_path / "yarn-called").read_text().split() == [
        "application", "-kill", "application_1700000000000_0042",
    ]  # fmt: skip
    assert "killing the cluster application" in log_text(ctx)


# -- real Spark --------------------------------------------------------------------------------

REAL_JOB = """\
import os, sys
from pyspark.sql import SparkSession

if len(sys.argv) > 2 and sys.argv[2] == "fail":
    raise SystemExit(4)
spark = SparkSession.builder.getOrCreate()
rows = [(i % 3,) for i in range(int(sys.argv[1]))]
n = spark.createDataFrame(rows, ["k"]).groupBy("k").count().count()
print(f"driver says: {n} groups")
with open(os.environ["MAESTRO_OUTPUT"], "a") as out:
    out.write(f"groups={n}\\n")
    out.write(f"seen_app_id={spark.sparkContext.applicationId}\\n")
    out.write(f"name={spark.sparkContext.appName}\\n")
    out.write(f"step_var={os.environ['STEP_VAR']}\\n")
if len(sys.argv) > 2 and sys.argv[2] == "hang":
    with open(sys.argv[3], "w") as f:
        f.write(str(os.getpid()))
    import time
    while True:
        time.sleep(1)
spark.stop()
"""


@pytest.fixture
def real_job(workdir: Path) -> str:
    (workdir / "jobs").mkdir()
    (workdir / "jobs" / "groups.py").write_text(REAL_JOB)
    return "jobs/groups.py"


def test_a_real_spark_application_succeeds_with_its_id_and_outputs(
    new_ctx: NewCtx, real_job: str
) -> None:
    settings = {"application": real_job, "conf": FAST_CONF, "args": [10]}
    ctx, ids = new_ctx("spark", settings, env={"STEP_VAR": "from-env"}, spark_master="local[1]")
    outcome = SparkRuntime().run(ctx)
    assert outcome.status == "succeeded", log_text(ctx)[-3000:]
    app_id = outcome.outputs["application_id"]
    assert app_id.startswith("local-") and ids.ids == [app_id]
    assert outcome.outputs == {
        "groups": 3,
        "seen_app_id": app_id,  # the id the runtime found is the driver's own
        "name": "wf.step",
        "step_var": "from-env",
        "application_id": app_id,
    }
    assert "driver says: 3 groups" in log_text(ctx)


def test_a_real_spark_application_that_fails(new_ctx: NewCtx, real_job: str) -> None:
    settings = {"application": real_job, "conf": FAST_CONF, "args": [3, "fail"]}
    ctx, _ = new_ctx("spark", settings, env={"STEP_VAR": "x"}, spark_master="local[1]")
    outcome = SparkRuntime().run(ctx)
    assert outcome.status == "failed" and not outcome.permanent
    assert outcome.exit_code == 4 and outcome.error == "spark-submit exited with code 4"


def test_stopping_a_real_spark_application_kills_its_processes(
    new_ctx: NewCtx, real_job: str, tmp_path: Path
) -> None:
    pid_file = tmp_path / "driver.pid"
    settings = {"application": real_job, "conf": FAST_CONF, "args": [3, "hang", str(pid_file)]}
    ctx, ids = new_ctx(
        "spark", settings, env={"STEP_VAR": "x"}, spark_master="local[1]", kill_grace=5
    )
    thread, result = run_in_thread(lambda: SparkRuntime().run(ctx))
    assert ids.seen.wait(60), "no application id before the stop"
    wait_for(lambda: pid_file.exists() and pid_file.read_text(), timeout=60)
    driver = int(pid_file.read_text())
    started = time.monotonic()
    ctx.cancel.set()
    thread.join(30)
    assert not thread.is_alive()
    assert result[0].status == "failed" and result[0].error == "cancelled"
    assert time.monotonic() - started < 10
    wait_for(lambda: process_gone(driver), timeout=10)
