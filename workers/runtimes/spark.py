"""The ``spark`` step type: submits a batch Spark application with ``spark-submit``.

``spark: {application, main_class, master, deploy_mode, name, conf, py_files, jars, files,
packages, driver_memory, executor_memory, executor_cores, num_executors, args}``; how the
command is built, which ``spark-submit`` runs, how the application id is found and how an
application is killed: see ``submit.py``.

* Exit code 0 is success. Outputs: ``application_id`` (when one was seen) plus whatever the
  driver wrote to the file named by ``$MAESTRO_OUTPUT`` (as for shell steps).
* A non-zero exit code fails the attempt (retried per the step's ``retries``).
* Stop or timeout: the process group is stopped (SIGTERM, ``kill_grace``, SIGKILL), and a
  cluster-mode application is killed on its cluster; the attempt ends cancelled.
* No ``spark-submit`` (pyspark not installed, no ``SPARK_HOME``), or a local application file
  that does not exist, is a permanent failure.
"""

from __future__ import annotations

from workers.runtimes.base import Outcome, RuntimeContext
from workers.runtimes.fencing import fence_application
from workers.runtimes.submit import (
    SubmitError,
    check_application,
    outcome,
    plan_submit,
    run_submit,
    start_failure,
)


class SparkRuntime:
    """Runs ``spark-submit`` for the step and waits for the application to end."""

    def fence(self, ctx: RuntimeContext, app_id: str) -> None:
        """The previous attempt was lost with application ``app_id``: a cluster-mode one is
        killed on its cluster first (a local or client-mode one died with its worker)."""
        try:
            plan = plan_submit(ctx)
        except SubmitError:
            return
        if plan.deploy_mode == "cluster":
            fence_application(ctx, app_id, plan.master, dict(plan.env), plan.spark_submit)

    def run(self, ctx: RuntimeContext) -> Outcome:
        try:
            check_application(ctx.settings, ctx.project_dir)
            plan = plan_submit(ctx)
        except SubmitError as exc:
            return Outcome.fail(str(exc), permanent=True)
        if ctx.cancel.is_set():
            return Outcome.fail("cancelled")
        try:
            result = run_submit(ctx, plan)
        except OSError as exc:
            return start_failure(exc, plan)
        if result.ended == "cancelled":
            return Outcome.fail("cancelled", exit_code=result.returncode)
        return outcome(result, ctx, succeeded=result.returncode == 0)
