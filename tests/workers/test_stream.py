"""The stream runtime: modes, max_duration, checkpoints, and exactly-once across a crash.

Supervision details run against the fake spark-submit of test_spark.py (fast); the checkpoint
behaviour runs a real Spark Structured Streaming job (local[1]) over CSV files.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.workers.conftest import NewCtx, log_text, run_in_thread
from tests.workers.test_spark import FAKE_SUBMIT, FAST_CONF, script
from workers.runtimes.stream import StreamRuntime, checkpoint_location


@pytest.fixture
def fake_spark(tmp_path: Path, workdir: Path) -> dict[str, str]:
    home = tmp_path / "fake-spark"
    script(home / "bin" / "spark-submit", 'env | grep ^MAESTRO_ > "$FAKE_ENV"\n' + FAKE_SUBMIT)
    (workdir / "app.py").write_text("")
    return {
        "SPARK_HOME": str(home),
        "FAKE_ARGS": str(tmp_path / "args"),
        "FAKE_ENV": str(tmp_path / "env"),
    }


def test_the_checkpoint_defaults_to_a_stable_folder_per_workflow_and_step(
    new_ctx: NewCtx, tmp_path: Path, workdir: Path
) -> None:
    first, _ = new_ctx("stream", {"application": "a.py"}, checkpoints_dir=tmp_path / "cp")
    retry, _ = new_ctx(
        "stream", {"application": "a.py"}, attempt=2, checkpoints_dir=tmp_path / "cp"
    )
    assert checkpoint_location(first) == checkpoint_location(retry) == str(tmp_path / "cp/wf/step")
    relative, _ = new_ctx("stream", {"application": "a.py", "checkpoint": "state/cp"})
    assert checkpoint_location(relative) == str(workdir / "state/cp")
    url, _ = new_ctx("stream", {"application": "a.py", "checkpoint": "s3a://bucket/cp/plays"})
    assert checkpoint_location(url) == "s3a://bucket/cp/plays"


def test_the_job_gets_its_mode_and_checkpoint_and_a_crash_fails_the_attempt(
    new_ctx: NewCtx, fake_spark: dict[str, str], tmp_path: Path
) -> None:
    ctx, _ = new_ctx(
        "stream",
        {"application": "app.py", "mode": "bounded"},
        env={**fake_spark, "FAKE_MODE": "exit3"},
        checkpoints_dir=tmp_path / "cp",
    )
    outcome = StreamRuntime().run(ctx)
    assert (outcome.status, outcome.exit_code, outcome.permanent) == ("failed", 3, False)
    env = dict(line.split("=", 1) for line in (tmp_path / "env").read_text().splitlines())
    assert env["MAESTRO_STREAM_MODE"] == "bounded"
    assert env["MAESTRO_CHECKPOINT"] == str(tmp_path / "cp/wf/step")


def test_continuous_mode_is_stopped_gracefully_at_max_duration_and_succeeds(
    new_ctx: NewCtx, fake_spark: dict[str, str]
) -> None:
    settings = {"application": "app.py", "mode": "continuous", "max_duration": 1.0}
    ctx, ids = new_ctx("stream", settings, env={**fake_spark, "FAKE_MODE": "hang"}, kill_grace=5)
    started = time.monotonic()
    outcome = StreamRuntime().run(ctx)
    elapsed = time.monotonic() - started
    assert outcome.status == "succeeded", outcome.error
    # the job saw SIGTERM (its trap wrote an output) and its outputs survived the stop
    assert outcome.outputs == {
        "mode": "continuous",
        "stopped": "graceful",
        "application_id": "application_1700000000000_0042",
    }
    assert 1.0 <= elapsed < 4.0
    assert ids.ids == ["application_1700000000000_0042"]
    assert "max_duration reached" in log_text(ctx)


def test_a_job_that_ignores_sigterm_is_killed_after_the_grace_period(
    new_ctx: NewCtx, fake_spark: dict[str, str]
) -> None:
    settings = {"application": "app.py", "mode": "continuous", "max_duration": "500ms"}
    env = {**fake_spark, "FAKE_MODE": "stubborn"}
    ctx, _ = new_ctx("stream", settings, env=env, kill_grace=0.5)
    started = time.monotonic()
    outcome = StreamRuntime().run(ctx)
    assert outcome.status == "succeeded"
    assert outcome.exit_code == -9  # SIGKILL
    assert 1.0 <= time.monotonic() - started < 4.0


def test_stopping_a_continuous_stream_cancels_the_attempt(
    new_ctx: NewCtx, fake_spark: dict[str, str]
) -> None:
    settings = {"application": "app.py", "mode": "continuous"}
    ctx, ids = new_ctx("stream", settings, env={**fake_spark, "FAKE_MODE": "hang"})
    thread, result = run_in_thread(lambda: StreamRuntime().run(ctx))
    assert ids.seen.wait(20)
    ctx.cancel.set()
    thread.join(20)
    assert not thread.is_alive()
    assert result[0].status == "failed" and result[0].error == "cancelled"


def test_a_non_spark_engine_is_refused(new_ctx: NewCtx) -> None:
    ctx, _ = new_ctx("stream", {"application": "a.py", "engine": "flink"})
    outcome = StreamRuntime().run(ctx)
    assert (
        outcome.permanent and outcome.error == "stream.engine 'flink' is not supported (only spark)"
    )


# -- real Spark Structured Streaming -----------------------------------------------------------

STREAM_JOB = """\
import os, sys
from pyspark.sql import SparkSession

source, sink = sys.argv[1], sys.argv[2]
crash_at = int(os.environ.get("CRASH_AT_BATCH", "-1"))
attempt = os.environ["MAESTRO_ATTEMPT"]
spark = SparkSession.builder.getOrCreate()
rows = (
    spark.readStream.schema("id INT, word STRING").option("header", "true")
    .option("maxFilesPerTrigger", 1).csv(source)
)

def handle(batch, batch_id):
    if batch_id == crash_at:
        os._exit(3)  # a crash in the middle of the stream, before the batch commits
    ids = sorted(row.id for row in batch.collect())
    with open(os.path.join(sink, f"batch-{batch_id}.txt"), "w") as out:  # idempotent per batch
        out.write("".join(f"{i}\\n" for i in ids))
    with open(os.path.join(sink, "journal.txt"), "a") as journal:
        journal.write(f"attempt={attempt} batch={batch_id} rows={len(ids)}\\n")
    with open(os.environ["MAESTRO_OUTPUT"], "a") as out:
        out.write(f"last_batch={batch_id}\\n")

writer = rows.writeStream.foreachBatch(handle).option(
    "checkpointLocation", os.environ["MAESTRO_CHECKPOINT"]
)
if os.environ["MAESTRO_STREAM_MODE"] == "bounded":
    writer = writer.trigger(availableNow=True)
else:
    writer = writer.trigger(processingTime="500 milliseconds")
writer.start().awaitTermination()
"""


@pytest.fixture
def stream_job(workdir: Path, tmp_path: Path) -> dict[str, Path]:
    (workdir / "stream_job.py").write_text(STREAM_JOB)
    paths = {"source": tmp_path / "in", "sink": tmp_path / "out", "cp": tmp_path / "checkpoints"}
    for path in paths.values():
        path.mkdir()
    return paths


def add_file(source: Path, name: str, ids: range) -> None:
    lines = "".join(f"{i},w{i}\n" for i in ids)
    (source / f".{name}.tmp").write_text("id,word\n" + lines)
    (source / f".{name}.tmp").rename(source / f"{name}.csv")  # appear whole


def journal(sink: Path) -> list[str]:
    path = sink / "journal.txt"
    return path.read_text().splitlines() if path.exists() else []


def processed_ids(sink: Path) -> list[int]:
    return sorted(
        int(line) for path in sink.glob("batch-*.txt") for line in path.read_text().split()
    )


def test_a_retry_resumes_from_the_checkpoint_and_processes_each_row_exactly_once(
    new_ctx: NewCtx, stream_job: dict[str, Path]
) -> None:
    source, sink = stream_job["source"], stream_job["sink"]
    for n, name in enumerate(["a", "b", "c"]):
        add_file(source, name, range(n * 10, n * 10 + 10))
    settings = {
        "application": "stream_job.py",
        "mode": "bounded",
        "conf": FAST_CONF,
        "args": [str(source), str(sink)],
    }
    common = {"spark_master": "local[1]", "checkpoints_dir": stream_job["cp"]}
    first, _ = new_ctx("stream", settings, env={"CRASH_AT_BATCH": "1"}, attempt=1, **common)
    crashed = StreamRuntime().run(first)
    assert crashed.status == "failed" and crashed.exit_code != 0, log_text(first)[-3000:]
    assert journal(sink) == ["attempt=1 batch=0 rows=10"]

    retry, ids = new_ctx("stream", settings, attempt=2, **common)
    outcome = StreamRuntime().run(retry)
    assert outcome.status == "succeeded", log_text(retry)[-3000:]
    # batch 0 committed before the crash is not redone; batch 1 is, then batch 2
    assert journal(sink) == [
        "attempt=1 batch=0 rows=10",
        "attempt=2 batch=1 rows=10",
        "attempt=2 batch=2 rows=10",
    ]
    assert processed_ids(sink) == list(range(30))  # every row once, none twice
    assert outcome.outputs["last_batch"] == 2
    assert outcome.outputs["application_id"] == ids.ids[0]
    assert (stream_job["cp"] / "wf" / "step" / "commits").is_dir()


def test_a_continuous_stream_stopped_at_max_duration_keeps_a_usable_checkpoint(
    new_ctx: NewCtx, stream_job: dict[str, Path]
) -> None:
    source, sink = stream_job["source"], stream_job["sink"]
    add_file(source, "a", range(0, 5))
    add_file(source, "b", range(5, 10))
    settings = {
        "application": "stream_job.py",
        "conf": FAST_CONF,
        "args": [str(source), str(sink)],
    }
    common = {"spark_master": "local[1]", "checkpoints_dir": stream_job["cp"], "kill_grace": 5}
    # long enough for Spark to start and take both files on a loaded machine (15 s was not)
    continuous = {**settings, "mode": "continuous", "max_duration": 30}
    ctx, _ = new_ctx("stream", continuous, **common)
    outcome = StreamRuntime().run(ctx)
    assert outcome.status == "succeeded", log_text(ctx)[-3000:]
    assert processed_ids(sink) == list(range(10))
    assert outcome.outputs["last_batch"] == 1

    add_file(source, "c", range(10, 15))
    ctx, _ = new_ctx("stream", {**settings, "mode": "bounded"}, **common)
    outcome = StreamRuntime().run(ctx)
    assert outcome.status == "succeeded", log_text(ctx)[-3000:]
    assert journal(sink)[-1] == "attempt=1 batch=2 rows=5"  # only the new file
    assert processed_ids(sink) == list(range(15))
