"""The ``stream`` step type: launches and supervises a Spark Structured Streaming application.

``stream: {engine: spark, application, mode: bounded | continuous, max_duration, checkpoint,
...the spark step's submit settings}``. The job is started with ``spark-submit`` exactly as a
spark step (see ``submit.py``), with two more variables in its environment:

* ``MAESTRO_STREAM_MODE``: ``bounded`` or ``continuous``. A bounded job processes what is
  available and exits (Spark's ``trigger(availableNow=True)``); a continuous one runs until it
  is stopped (``trigger(processingTime=...)``).
* ``MAESTRO_CHECKPOINT``: where the job keeps its checkpoint (pass it as the query's
  ``checkpointLocation``). ``stream.checkpoint`` when given (a relative path resolves against
  the project folder, a URL passes through); otherwise a folder that is stable across attempts
  and runs of the same step: ``<MAESTRO_HOME>/checkpoints/<workflow id>/<step id>``. Because
  the checkpoint outlives the run, a daily bounded stream picks up where yesterday's stopped.

How the attempt ends:

* ``bounded``: when the job exits; code 0 succeeds, anything else fails.
* ``continuous``: the job runs until the step is stopped or times out (the attempt ends
  cancelled / TIMED_OUT) or until ``max_duration``: then it is stopped gracefully (SIGTERM to
  the process group, ``kill_grace`` seconds, then SIGKILL) and the step SUCCEEDS. A job that
  exits by itself succeeds on code 0 and fails otherwise.
* A crash (non-zero exit) fails the attempt. A retry starts the job again with the same
  checkpoint, so it resumes after the last committed micro-batch: with a replayable source
  and an idempotent sink (file sink, ``foreachBatch`` keyed by batch id) every input is
  processed exactly once across the crash.
* Outputs: ``application_id`` plus what the job wrote to ``$MAESTRO_OUTPUT`` (also after a
  stop at ``max_duration``). Heartbeats keep a long attempt alive; give continuous steps no
  ``timeout`` or one longer than ``max_duration``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from maestro.definition.durations import parse_duration
from workers.runtimes.base import Outcome, RuntimeContext
from workers.runtimes.spark import SparkRuntime
from workers.runtimes.submit import (
    SubmitError,
    check_application,
    is_url,
    outcome,
    plan_submit,
    resolve_path,
    run_submit,
    start_failure,
    write_log,
)

MODES = ("bounded", "continuous")


class StreamRuntime:
    """Runs a streaming job through ``spark-submit`` in bounded or continuous mode."""

    def fence(self, ctx: RuntimeContext, app_id: str) -> None:
        """A lost attempt's cluster-mode job keeps running on its cluster: killed first (two
        writers on one checkpoint would be worse than for a batch job)."""
        SparkRuntime().fence(ctx, app_id)

    def run(self, ctx: RuntimeContext) -> Outcome:
        try:
            mode, max_duration = _mode(ctx.settings), _max_duration(ctx.settings)
            checkpoint = checkpoint_location(ctx)
            check_application(ctx.settings, ctx.project_dir)
            env = {"MAESTRO_STREAM_MODE": mode, "MAESTRO_CHECKPOINT": checkpoint}
            plan = plan_submit(ctx, env)
        except SubmitError as exc:
            return Outcome.fail(str(exc), permanent=True)
        if ctx.cancel.is_set():
            return Outcome.fail("cancelled")
        write_log(ctx.log, f"[maestro] stream mode {mode}, checkpoint {checkpoint}\n")
        limit = max_duration if mode == "continuous" else None
        try:
            result = run_submit(ctx, plan, max_duration=limit)
        except OSError as exc:
            return start_failure(exc, plan)
        if result.ended == "cancelled":
            return Outcome.fail("cancelled", exit_code=result.returncode)
        succeeded = result.ended == "max_duration" or result.returncode == 0
        return outcome(result, ctx, succeeded=succeeded)


def _mode(settings: Any) -> str:
    raw = settings.get("mode") or "bounded"
    mode = str(getattr(raw, "value", raw))
    if mode not in MODES:
        raise SubmitError(f"stream.mode must be bounded or continuous, got {mode!r}")
    engine = str(getattr(settings.get("engine"), "value", settings.get("engine") or "spark"))
    if engine != "spark":
        raise SubmitError(f"stream.engine {engine!r} is not supported (only spark)")
    return mode


def _max_duration(settings: Any) -> float | None:
    value = settings.get("max_duration")
    if value is None:
        return None
    try:
        seconds = parse_duration(value).total_seconds()
    except ValueError:
        raise SubmitError(f"stream.max_duration must be a duration, got {value!r}") from None
    if seconds <= 0:
        raise SubmitError(f"stream.max_duration must be positive, got {value!r}")
    return seconds


def checkpoint_location(ctx: RuntimeContext) -> str:
    """``stream.checkpoint`` resolved, or the step's stable default folder."""
    given = ctx.settings.get("checkpoint")
    if given:
        text = str(given)
        return text if is_url(text) else resolve_path(text, ctx.project_dir)
    root = ctx.checkpoints_dir or ctx.project_dir / ".maestro" / "checkpoints"
    workflow = ctx.env.get("MAESTRO_WORKFLOW_ID", "workflow")
    return str(Path(root) / _safe(workflow) / _safe(ctx.step_id))


def _safe(part: str) -> str:
    """A path component: no separators, no ``..``."""
    cleaned = part.replace("/", "_").replace("\\", "_")
    return cleaned if cleaned not in {"", ".", ".."} else "_"
