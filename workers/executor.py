"""The attempt executor: claim, heartbeat, run, report. Shared by every dispatcher.

The executor owns nothing durable: the store says which attempt is whose. If this process dies
mid-attempt, its heartbeat lapses, the scheduler declares the attempt LOST and the step is
retried elsewhere.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import time
import traceback
from pathlib import Path
from typing import BinaryIO, cast

from maestro.dispatch import Follow
from maestro.engine.attempts import (
    AttemptResult,
    ClaimedAttempt,
    claim,
    report,
    report_and_follow,
    set_external_id,
)
from maestro.engine.core import Engine
from maestro.log_format import trace_context
from maestro.states import AttemptStatus
from maestro.store.retry import retrying
from workers.heartbeat import Heartbeater, Watch
from workers.logfile import LazyLog
from workers.runtimes import get_runtime
from workers.runtimes.base import Outcome, Runtime, RuntimeContext

logger = logging.getLogger(__name__)


def default_worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class AttemptExecutor:
    def __init__(self, eng: Engine, worker_name: str | None = None) -> None:
        self.eng = eng
        self.pid = os.getpid()
        self.worker = worker_name or eng.settings.worker_name or default_worker_name()
        self.heartbeats = Heartbeater(eng)
        # strings: path joins were a few per cent of a no-op step
        self._work_root = str(eng.settings.home / "work")
        self._checkpoints = eng.settings.home / "checkpoints"
        #: how this executor picks the attempt it runs next when it reports one (claimed in
        #: the report's transaction); None: it only runs what it is sent
        self.follow: Follow | None = None
        #: follow on for at most this many seconds from the attempt it was sent (None: no
        #: limit) — a Celery task that follows a long chain stays one task, and a draining
        #: prefork worker must not keep taking successors for long
        self.follow_for: float | None = None

    def execute(self, attempt_id: int) -> None:
        """Run one attempt if it is still ours to run — and then the attempts its reports
        follow on to (``follow``); never raises."""
        current = attempt_id
        until = None if self.follow_for is None else time.monotonic() + self.follow_for
        try:
            claimed = retrying(lambda: claim(self.eng, attempt_id, self.worker), what="claim")
            while claimed is not None:
                current = claimed.attempt_id
                follow = until is None or time.monotonic() < until
                with trace_context(claimed.env.get("TRACEPARENT")):
                    claimed = self._execute(claimed, follow)
        except Exception:
            logger.exception("attempt execution failed", extra={"attempt_id": current})

    def _execute(self, claimed: ClaimedAttempt, follow: bool = True) -> ClaimedAttempt | None:
        """Run a claimed attempt and report it; the attempt claimed with the report, if any
        (``follow``: may the report claim one)."""
        attempt_id = claimed.attempt_id
        ids = {"run_id": claimed.run_id, "step_id": claimed.step_id, "attempt_id": attempt_id}
        logger.debug("attempt started", extra=ids)
        try:
            result = self._run(claimed)
            if result is None:
                return None
            # The work is done: keep trying to record it through a database restart,
            # heartbeating meanwhile so that it is not declared LOST.
            following = retrying(
                lambda: self._report(attempt_id, result, follow),
                deadline=max(600.0, 4 * self.eng.settings.heartbeat_timeout),
                what="report",
            )
            logger.debug("attempt ended", extra={**ids, "status": result.status.value})
            return following
        finally:
            self.heartbeats.unwatch(attempt_id)

    def _report(
        self, attempt_id: int, result: AttemptResult, follow: bool = True
    ) -> ClaimedAttempt | None:
        policy = self.follow if follow else None
        if policy is None or result.status is AttemptStatus.LOST:  # LOST: shutting down
            report(self.eng, attempt_id, result, worker=self.worker)
            return None
        return report_and_follow(self.eng, attempt_id, result, self.worker, policy)[1]

    def cancel(self, attempt_id: int) -> None:
        self.heartbeats.cancel(attempt_id)

    def shutdown(self, wait: float) -> None:
        """The worker is going away now (a cold shutdown): kill every running step and give
        them up to ``wait`` seconds to be reported LOST, so that they run again elsewhere at
        once and leave no process behind."""
        cancelled = self.heartbeats.cancel_all("shutdown")
        if cancelled:
            logger.warning("worker shutting down: killing %d running step(s)", len(cancelled))
        deadline = time.monotonic() + wait
        while self.heartbeats.watched() and time.monotonic() < deadline:
            time.sleep(0.05)

    def close(self) -> None:
        self.heartbeats.close()

    def _run(self, claimed: ClaimedAttempt) -> AttemptResult | None:
        with LazyLog(claimed.log_path, self.eng.settings.max_log_bytes) as lazy:
            # LazyLog is a raw binary file (write, flush, fileno): what runtimes use of a log
            log = cast(BinaryIO, lazy)
            if claimed.render_error:
                log.write(f"cannot render the step's settings: {claimed.render_error}\n".encode())
                return AttemptResult(
                    AttemptStatus.FAILED, error=claimed.render_error, permanent=True
                )
            runtime = get_runtime(claimed.step_type)
            if runtime is None:
                message = (
                    f"step type '{claimed.step_type}' is not supported by this version "
                    f"of Maestro yet (step {claimed.step_id!r})"
                )
                log.write(f"{message}\n".encode())
                return AttemptResult(AttemptStatus.FAILED, error=message, permanent=True)
            timeout = claimed.timeout.total_seconds() if claimed.timeout else None
            watch = self.heartbeats.watch(claimed.attempt_id, timeout)
            work = f"{self._work_root}/{claimed.attempt_id}"
            work_dir = Path(work)
            try:
                outcome = self._call(runtime, self._context(claimed, watch, work_dir, log), log)
            finally:
                if os.path.exists(work):
                    shutil.rmtree(work, ignore_errors=True)
        return _result(outcome, watch, claimed)

    def _context(
        self, claimed: ClaimedAttempt, watch: Watch, work_dir: Path, log: BinaryIO
    ) -> RuntimeContext:
        env = dict(claimed.env)
        env["MAESTRO_OUTPUT"] = f"{work_dir}/output"
        return RuntimeContext(
            attempt_id=claimed.attempt_id,
            run_id=claimed.run_id,
            step_id=claimed.step_id,
            attempt_number=claimed.number,
            step_type=claimed.step_type,
            settings=claimed.settings,
            env=env,
            project_dir=self.eng.settings.project_dir,
            work_dir=work_dir,
            log=log,
            cancel=watch.cancel,
            kill_grace=self.eng.settings.kill_grace,
            set_external_id=lambda ext: set_external_id(self.eng, claimed.attempt_id, ext),
            spark_master=self.eng.settings.spark_master,
            connections_file=self.eng.settings.connections_file,
            checkpoints_dir=self._checkpoints,
            log_path=claimed.log_path,
            fence_id=claimed.fence_id,
        )

    @staticmethod
    def _call(runtime: Runtime, ctx: RuntimeContext, log: BinaryIO) -> Outcome:
        fence = getattr(runtime, "fence", None)
        if ctx.fence_id is not None and fence is not None:
            # the previous attempt's worker died with its query or application still running
            # elsewhere: end that first, so that two never write at once (best effort, logged)
            try:
                fence(ctx, ctx.fence_id)
            except Exception as exc:
                log.write(f"[maestro] could not fence {ctx.fence_id}: {exc}\n".encode())
        try:
            return runtime.run(ctx)
        except Exception as exc:
            log.write(traceback.format_exc().encode())
            return Outcome.fail(f"runtime error: {type(exc).__name__}: {exc}")


def _result(outcome: Outcome, watch: Watch, claimed: ClaimedAttempt) -> AttemptResult | None:
    if watch.reason == "stopped":
        return None  # the store already ended this attempt (stop action, LOST, run ended)
    if watch.reason == "shutdown":
        return AttemptResult(
            AttemptStatus.LOST, error="the worker shut down while the step ran", exit_code=None
        )
    if watch.reason == "timeout":
        limit = claimed.timeout.total_seconds() if claimed.timeout else 0
        return AttemptResult(
            AttemptStatus.TIMED_OUT,
            error=f"timed out after {limit:g}s",
            exit_code=outcome.exit_code,
        )
    status = AttemptStatus.SUCCEEDED if outcome.status == "succeeded" else AttemptStatus.FAILED
    return AttemptResult(
        status,
        outputs=outcome.outputs,
        error=outcome.error,
        exit_code=outcome.exit_code,
        permanent=outcome.permanent,
    )
