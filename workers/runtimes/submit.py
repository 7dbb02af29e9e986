"""``spark-submit``: building the command and supervising it (shared by spark and stream steps).

Which ``spark-submit``: ``$SPARK_HOME/bin/spark-submit`` when ``SPARK_HOME`` is set (in the
step's ``env`` or the worker's environment), else the one shipped inside the installed
``pyspark`` package (``pip install 'maestro-py[spark]'``), else one on ``PATH``. None of them is a
permanent failure saying so.

The command, from the step's settings::

    spark-submit --master M [--deploy-mode D] --name N [--class C] [--conf k=v]...
                 [--py-files a,b] [--jars ...] [--files ...] [--packages ...]
                 [--driver-memory ...] [--executor-memory ...] [--executor-cores N]
                 [--num-executors N] APPLICATION [ARGS...]

``master`` defaults to the worker's setting ``spark_master``; ``name`` to
``<workflow id>.<step id>``. Relative paths (``application``, ``py_files``, ``jars``, ``files``;
a ``#alias`` suffix is kept) resolve against the project folder; absolute paths and URLs
(``s3://``, ``hdfs://``, ``file://``, ``local:``) pass through. A local application that does
not exist is a permanent failure. For a ``local`` master, ``PYSPARK_PYTHON`` and
``PYSPARK_DRIVER_PYTHON`` default to the worker's interpreter (which has pyspark); in client
mode on a cluster only ``PYSPARK_DRIVER_PYTHON`` does, as executors run elsewhere.

The application id is recorded on the attempt (``ctx.set_external_id``) as soon as it is seen:
the child's output goes through a pump thread that copies it to the attempt log and scans each
line for ``application_<ts>_<n>`` (YARN), ``app-<ts>-<n>`` (standalone), ``spark-<hex>``
(Kubernetes) or ``local-<ts>`` (local). Spark does not log a local application's id, so for a
``local`` master the runtime turns on Spark's event log into the attempt's scratch folder
(unless the step configures ``spark.eventLog.*`` itself): its file is named after the id.

Stopping (stop action, timeout, or a stream's ``max_duration``): SIGTERM to the command's
process group (spark-submit, the driver JVM, the Python driver and their children), up to
``ctx.kill_grace`` seconds, then SIGKILL. That ends the application for a local master and in
client mode. In cluster mode the driver runs on the cluster, so the runtime also runs, best
effort (logged, 60 s limit): ``yarn application -kill <id>`` on YARN, and
``spark-submit --master <master> --kill <submission id>`` on Kubernetes, and the driver client's
``spark-class org.apache.spark.deploy.Client kill <master> <driver id>`` on standalone.

Environment: built by ``step_env.py`` (basics, Java/Spark/``PYSPARK_*`` of the worker, the
step's ``env`` and ``MAESTRO_*``, the connections it names) — never the worker's secrets.

Secrets: ``--conf`` values whose key looks secret (password, secret, token, credential) are
shown as ``***`` in the attempt log, and the passwords of the step's connections are masked in
its output.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO, Literal

from maestro.connections import ScrubbingStream
from workers.runtimes.base import Outcome, RuntimeContext, exit_status
from workers.runtimes.outputs import OutputError, read_outputs
from workers.runtimes.shell import _kill_now, _terminate
from workers.runtimes.step_env import StepEnvError, step_environment
from workers.runtimes.warden import Hold, guard

SPARK_EXTRA = "pip install 'maestro-py[spark]'"
_POLL = 0.05
_PUMP_DRAIN = 2.0
_KILL_TIMEOUT = 60.0
#: the longest line tail kept while scanning output that has no newline yet
_LINE_TAIL = 8192

APP_ID = re.compile(
    r"(?<![A-Za-z0-9])(application_\d{10,}_\d{4,}|app-\d{14}-\d{4,}|local-\d{10,}"
    r"|spark-[0-9a-f]{32})(?![0-9A-Za-z])"
)
SUBMISSION_ID = re.compile(
    r"Driver successfully submitted as (driver-\d{14}-\d{4,})|submission ID (\S+) into Kubernetes"
)
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_SECRET_CONF = re.compile(r"pass|secret|token|credential", re.IGNORECASE)
_LIST_FLAGS = {"py_files": "--py-files", "jars": "--jars", "files": "--files"}
_VALUE_FLAGS = {
    "driver_memory": "--driver-memory",
    "executor_memory": "--executor-memory",
    "executor_cores": "--executor-cores",
    "num_executors": "--num-executors",
}

Ended = Literal["exited", "cancelled", "max_duration"]


class SubmitError(ValueError):
    """The step cannot be submitted as configured (a permanent failure)."""


# -- building the command ----------------------------------------------------------------------


@dataclass
class SubmitPlan:
    """Everything needed to start one ``spark-submit``."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    spark_submit: str
    master: str
    deploy_mode: str | None
    #: Spark's event log folder for a local master: the file inside it names the application
    event_dir: Path | None = None
    #: the passwords of the connections the step was given: masked in its log
    secrets: list[str] = field(default_factory=list)


def plan_submit(ctx: RuntimeContext, extra_env: Mapping[str, str] | None = None) -> SubmitPlan:
    """The command and environment for the step; raises ``SubmitError`` when it cannot work."""
    settings = ctx.settings
    try:
        step_env = step_environment(ctx, spark=True, extra=extra_env)
    except StepEnvError as exc:
        raise SubmitError(str(exc)) from None
    env = step_env.env
    spark_submit = find_spark_submit(env)
    master = _text(settings.get("master")) or ctx.spark_master
    deploy_mode = _text(settings.get("deploy_mode"))
    conf = {str(k): _text(v) or "" for k, v in (settings.get("conf") or {}).items()}
    event_dir = None
    if is_local_master(master) and not any(k.startswith("spark.eventLog.") for k in conf):
        event_dir = ctx.work_dir.absolute() / "spark-events"
        conf["spark.eventLog.enabled"] = "true"
        conf["spark.eventLog.dir"] = event_dir.as_uri()
    _python_defaults(env, master, deploy_mode)
    argv = build_command(
        spark_submit,
        settings,
        master=master,
        conf=conf,
        project_dir=ctx.project_dir,
        default_name=_default_name(ctx),
    )
    return SubmitPlan(
        argv, env, ctx.project_dir, spark_submit, master, deploy_mode, event_dir, step_env.secrets
    )


def build_command(
    spark_submit: str,
    settings: Mapping[str, Any],
    *,
    master: str,
    conf: Mapping[str, str],
    project_dir: Path,
    default_name: str,
) -> list[str]:
    """The ``spark-submit`` argv for ``settings`` (pure: no file is read)."""
    argv = [spark_submit, "--master", master]
    if deploy_mode := _text(settings.get("deploy_mode")):
        argv += ["--deploy-mode", deploy_mode]
    argv += ["--name", _text(settings.get("name")) or default_name]
    if main_class := _text(settings.get("main_class")):
        argv += ["--class", main_class]
    for key, setting in conf.items():
        argv += ["--conf", f"{key}={setting}"]
    for key, flag in _LIST_FLAGS.items():
        if items := _list(settings, key):
            argv += [flag, ",".join(resolve_path(item, project_dir) for item in items)]
    if packages := _list(settings, "packages"):
        argv += ["--packages", ",".join(packages)]
    for key, flag in _VALUE_FLAGS.items():
        if (value := _text(settings.get(key))) is not None:
            argv += [flag, value]
    application = _text(settings.get("application"))
    if not application:
        raise SubmitError("application must be a path or URL")
    argv.append(resolve_path(application, project_dir))
    argv += [_text(arg) or "" for arg in settings.get("args") or []]
    return argv


def resolve_path(value: str, project_dir: Path) -> str:
    """A relative path against ``project_dir``; absolute paths and URLs unchanged."""
    if is_url(value) or os.path.isabs(value):
        return value
    path, sep, alias = value.partition("#")  # YARN's file#alias
    return str(project_dir / path) + sep + alias


def is_url(value: str) -> bool:
    return bool(_URL.match(value))


def is_local_master(master: str) -> bool:
    return master == "local" or master.startswith("local[")


def find_spark_submit(env: Mapping[str, str]) -> str:
    """``$SPARK_HOME/bin/spark-submit``, pyspark's, or one on PATH; raises ``SubmitError``."""
    spark_home = env.get("SPARK_HOME")
    if spark_home:
        candidate = Path(spark_home) / "bin" / "spark-submit"
        if not os.access(candidate, os.X_OK):
            raise SubmitError(f"SPARK_HOME is {spark_home} but {candidate} is not executable")
        return str(candidate)
    shipped = _pyspark_spark_submit()
    if shipped is not None:
        return shipped
    on_path = shutil.which("spark-submit", path=env.get("PATH"))
    if on_path is not None:
        return on_path
    raise SubmitError(f"spark-submit not found: {SPARK_EXTRA}, or set SPARK_HOME")


def _pyspark_spark_submit() -> str | None:
    """The ``spark-submit`` inside the installed pyspark, found without importing pyspark."""
    try:
        spec = importlib.util.find_spec("pyspark")
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    candidate = Path(spec.origin).parent / "bin" / "spark-submit"
    return str(candidate) if os.access(candidate, os.X_OK) else None


def _python_defaults(env: dict[str, str], master: str, deploy_mode: str | None) -> None:
    """Run the Python driver (and local workers) with the worker's own interpreter."""
    if is_local_master(master):
        env.setdefault("PYSPARK_PYTHON", sys.executable)
    if deploy_mode != "cluster":
        env.setdefault("PYSPARK_DRIVER_PYTHON", env.get("PYSPARK_PYTHON", sys.executable))


def _default_name(ctx: RuntimeContext) -> str:
    workflow = ctx.env.get("MAESTRO_WORKFLOW_ID")
    return f"{workflow}.{ctx.step_id}" if workflow else ctx.step_id


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if hasattr(value, "value") and isinstance(value.value, str):  # an enum member
        return str(value.value)
    return str(value)


def _list(settings: Mapping[str, Any], key: str) -> list[str]:
    value = settings.get(key) or []
    if isinstance(value, str):
        value = [value]
    return [str(item) for item in value if str(item)]


def shown_command(argv: list[str]) -> str:
    """The command as logged: secret-looking ``--conf`` values hidden."""
    shown: list[str] = []
    for arg in argv:
        key, sep, _value = arg.partition("=")
        hidden = sep and _SECRET_CONF.search(key) and shown and shown[-1] == "--conf"
        shown.append(f"{key}=***" if hidden else arg)
    return shlex.join(shown)


def check_application(settings: Mapping[str, Any], project_dir: Path) -> None:
    """A local application file must exist (a URL is the cluster's business)."""
    application = _text(settings.get("application")) or ""
    if not application or is_url(application):
        return
    path = Path(resolve_path(application, project_dir))
    if not path.is_file():
        raise SubmitError(f"application {path} does not exist")


# -- running and supervising -------------------------------------------------------------------


@dataclass
class SubmitResult:
    """How a ``spark-submit`` ended."""

    returncode: int
    ended: Ended
    app_id: str | None
    submission_id: str | None = None


@dataclass
class _Seen:
    """Ids spotted in the output by the pump thread."""

    app_id: str | None = None
    submission_id: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def scan(self, line: str) -> None:
        if self.app_id is None and (match := APP_ID.search(line)):
            with self.lock:
                self.app_id = match.group(1)
        if self.submission_id is None and (match := SUBMISSION_ID.search(line)):
            with self.lock:
                self.submission_id = match.group(1) or match.group(2)


class _IdRecorder:
    """Calls ``set_external_id`` once per new id; a failure to record is logged, not fatal."""

    def __init__(self, ctx: RuntimeContext) -> None:
        self._ctx = ctx
        self.recorded: str | None = None

    def offer(self, app_id: str | None) -> None:
        if app_id is None or app_id == self.recorded:
            return
        self.recorded = app_id
        kind = "application" if APP_ID.fullmatch(app_id) else "driver submission"
        write_log(self._ctx.log, f"[maestro] Spark {kind} id: {app_id}\n")
        try:
            self._ctx.set_external_id(app_id)
        except Exception as exc:
            write_log(self._ctx.log, f"[maestro] could not record the application id: {exc}\n")


def run_submit(
    ctx: RuntimeContext, plan: SubmitPlan, *, max_duration: float | None = None
) -> SubmitResult:
    """Start ``spark-submit`` and supervise it until it exits, is cancelled or runs out of time.

    Raises ``OSError`` when the command cannot be started.
    """
    write_log(ctx.log, f"[maestro] in {plan.cwd}\n$ {shown_command(plan.argv)}\n")
    if plan.event_dir is not None:
        plan.event_dir.mkdir(parents=True, exist_ok=True)
    seen = _Seen()
    hold = Hold()  # spark-submit does not start before its warden stands (warden.py)
    try:
        proc = subprocess.Popen(
            hold.argv(plan.argv, plan.env, plan.cwd),
            cwd=plan.cwd,
            env=plan.env,
            stdin=hold.stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        hold.spawned()
    assert proc.stdout is not None
    pump = threading.Thread(
        target=_pump,
        args=(proc.stdout, ctx.log, seen.scan, ScrubbingStream(plan.secrets)),
        name="spark-log",
        daemon=True,
    )
    pump.start()
    recorder = _IdRecorder(ctx)
    # spark-submit's group dies with this worker (warden.py)
    warden = guard(proc.pid, lambda: _kill_now(proc), hold)
    try:
        ended = _wait(proc, ctx, max_duration, lambda: recorder.offer(_fence_id(seen, plan)))
        if ended != "exited":
            _stop(proc, ctx, plan, seen, ended)
    except BaseException:  # never leave the group running behind an unexpected error
        _kill_now(proc)
        raise
    finally:
        warden.release()
    pump.join(_PUMP_DRAIN)
    recorder.offer(_fence_id(seen, plan))
    return SubmitResult(proc.returncode, ended, _app_id(seen, plan), seen.submission_id)


def _wait(
    proc: subprocess.Popen[bytes],
    ctx: RuntimeContext,
    max_duration: float | None,
    poll: Callable[[], None],
) -> Ended:
    deadline = None if max_duration is None else time.monotonic() + max_duration
    while proc.poll() is None:
        pause = _POLL
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "max_duration"
            pause = min(pause, remaining)
        if ctx.cancel.wait(pause):
            return "exited" if proc.poll() is not None else "cancelled"
        poll()
    return "exited"


def _stop(
    proc: subprocess.Popen[bytes],
    ctx: RuntimeContext,
    plan: SubmitPlan,
    seen: _Seen,
    why: Ended,
) -> None:
    reason = "max_duration reached" if why == "max_duration" else "stopping"
    write_log(
        ctx.log,
        f"\n[maestro] {reason}: SIGTERM to the process group, SIGKILL after {ctx.kill_grace:g}s\n",
    )
    _terminate(proc, ctx.kill_grace)
    command = kill_command(
        plan.spark_submit, plan.master, plan.deploy_mode, _app_id(seen, plan), seen.submission_id
    )
    if command is not None:
        run_kill(command, plan.env, ctx.log)


def kill_command(
    spark_submit: str,
    master: str,
    deploy_mode: str | None,
    app_id: str | None,
    submission_id: str | None,
) -> list[str] | None:
    """The command that kills a cluster-mode application, or None when killing the group does."""
    if deploy_mode != "cluster":
        return None
    if master == "yarn" and app_id and app_id.startswith("application_"):
        return ["yarn", "application", "-kill", app_id]
    if master.startswith("k8s://") and submission_id:
        return [spark_submit, "--master", master, "--kill", submission_id]
    if master.startswith("spark://") and submission_id:
        # ``spark-submit --kill`` speaks only the master's REST server (often off, on another
        # port); the driver client that submitted it kills through the master's own port
        spark_class = str(Path(spark_submit).with_name("spark-class"))
        return [spark_class, "org.apache.spark.deploy.Client", "kill", master, submission_id]
    return None


def run_kill(command: list[str], env: Mapping[str, str], log: BinaryIO) -> None:
    write_log(log, f"[maestro] killing the cluster application: {shlex.join(command)}\n")
    try:
        done = subprocess.run(
            command,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=_KILL_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        write_log(log, f"[maestro] the kill command failed: {exc}\n")
        return
    write_log(log, (done.stdout + done.stderr).decode(errors="replace"))
    write_log(log, f"[maestro] the kill command exited with code {done.returncode}\n")


def _fence_id(seen: _Seen, plan: SubmitPlan) -> str | None:
    """What the attempt records as its external id: what ends its application should the
    attempt be lost — the driver's submission id for a cluster-mode driver on a standalone
    or Kubernetes master (``spark-submit --kill`` takes it; its application id is the
    driver's to know), else the application id."""
    if plan.deploy_mode == "cluster" and plan.master.startswith(("k8s://", "spark://")):
        with seen.lock:
            if seen.submission_id is not None:
                return seen.submission_id
    return _app_id(seen, plan)


def _app_id(seen: _Seen, plan: SubmitPlan) -> str | None:
    with seen.lock:
        if seen.app_id is not None:
            return seen.app_id
    return event_log_app_id(plan.event_dir)


def event_log_app_id(event_dir: Path | None) -> str | None:
    """The application id named by the (single) event log in ``event_dir``, if any yet."""
    if event_dir is None:
        return None
    with contextlib.suppress(OSError), os.scandir(event_dir) as entries:
        for entry in entries:
            if match := APP_ID.search(entry.name):
                return match.group(1)
    return None


def _pump(
    pipe: IO[bytes], log: BinaryIO, on_line: Callable[[str], None], scrubber: ScrubbingStream
) -> None:
    """Copy the child's output, masked, to the log until EOF, handing each complete line to
    ``on_line``."""
    pending = b""
    with pipe:
        fd = pipe.fileno()
        while chunk := os.read(fd, 65536):
            with contextlib.suppress(OSError, ValueError):  # the attempt's log was closed
                log.write(scrubber.feed(chunk))
                log.flush()
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                on_line(line.decode(errors="replace"))
            pending = pending[-_LINE_TAIL:]
    with contextlib.suppress(OSError, ValueError):
        log.write(scrubber.flush())
        log.flush()
    if pending:
        on_line(pending.decode(errors="replace"))


def write_log(log: BinaryIO, text: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        log.write(text.encode(errors="replace"))
        log.flush()


# -- outcomes ----------------------------------------------------------------------------------


def outcome(result: SubmitResult, ctx: RuntimeContext, *, succeeded: bool) -> Outcome:
    """Outputs (``application_id`` plus the driver's ``$MAESTRO_OUTPUT``) or the failure."""
    if not succeeded:
        return Outcome.fail(exit_message(result.returncode), exit_code=result.returncode)
    try:
        outputs = read_outputs(ctx.output_path)
    except OutputError as exc:
        return Outcome.fail(f"invalid $MAESTRO_OUTPUT: {exc}", exit_code=result.returncode)
    if result.app_id is not None:
        outputs.setdefault("application_id", result.app_id)
    if result.submission_id is not None:
        outputs.setdefault("submission_id", result.submission_id)
    return Outcome.ok(outputs, exit_code=result.returncode)


def exit_message(returncode: int) -> str:
    return f"spark-submit {exit_status(returncode)}"


def start_failure(exc: OSError, plan: SubmitPlan) -> Outcome:
    if isinstance(exc, FileNotFoundError | PermissionError | NotADirectoryError):
        return Outcome.fail(f"cannot run {plan.spark_submit}: {exc.strerror}", permanent=True)
    return Outcome.fail(f"cannot start spark-submit: {exc}")
