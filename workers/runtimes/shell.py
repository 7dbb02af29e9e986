"""The ``shell`` step type: runs ``shell.command`` with ``<shell> -c`` and reports its exit code.

How it runs, and why:

* ``[shell, "-c", command]`` (``/bin/bash`` unless ``shell.shell`` says otherwise), in
  ``shell.cwd`` (default ``.``) resolved against ``ctx.project_dir``; absolute paths are kept.
* The environment is built by ``step_env.py``: a few basics of the worker's (``PATH``,
  ``HOME``, locale…), the step's ``ctx.env``, the connections it names, and ``MAESTRO_OUTPUT``,
  the file where the command may write its outputs (see ``outputs.py``). Never the worker's
  secrets.
* stdout and stderr are two pipes that one pump thread copies to the attempt log as they
  come, stderr through ``write_stream(..., STDERR)`` so that the log's index
  (``maestro/logindex.py``) says which lines came from stderr and when they arrived — the log
  stays plain text. Each stream keeps its order; between the two, writes less than the pump's
  wake-up apart (microseconds) may come out swapped, as with any tool that keeps the streams
  apart (Docker, Kubernetes). The passwords of the connections a step was given are masked,
  per stream. stdin is ``/dev/null``.
* The command runs in a new session, hence its own process group: stopping the step sends
  SIGTERM to the whole group (children and grandchildren too, not just the shell), waits up to
  ``ctx.kill_grace`` seconds for the group to go away, then sends SIGKILL to the group.
* While waiting, the runtime polls the process with a short backoff (1 ms doubling to 50 ms)
  using ``ctx.cancel.wait`` as the pause: a fast command such as ``true`` costs a few ms more at
  most, a long one costs about 20 cheap wake-ups a second, and a cancel is seen at once.
  Background processes a command leaves behind after a normal exit are not killed.
* The group dies with the worker: a warden process kills it if the worker dies first, however
  (SIGKILL, OOM killer), so a step declared LOST and retried elsewhere is not still running
  here (``warden.py``).
* A missing working directory or shell is a permanent failure: retrying cannot fix it.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, BinaryIO

from maestro.connections import ScrubbingStream
from maestro.logindex import STDERR, STDOUT
from workers.runtimes.base import Outcome, RuntimeContext, exit_status
from workers.runtimes.outputs import OutputError, read_outputs
from workers.runtimes.step_env import StepEnvError, step_environment
from workers.runtimes.warden import HeldPopen, Hold, guard

DEFAULT_SHELL = "/bin/bash"
_POLL_FIRST = 0.001
_POLL_MAX = 0.05
#: how long to wait for the pump thread to drain the pipe once the command has exited
_PUMP_DRAIN = 2.0


class _SettingsError(ValueError):
    """The step's settings cannot work; the message says why."""


class ShellRuntime:
    """Runs a shell command as its own process group, logging its output to the attempt log."""

    def run(self, ctx: RuntimeContext) -> Outcome:
        try:
            command, shell, cwd = _read_settings(ctx.settings, ctx.project_dir)
            step_env = step_environment(ctx)
        except (_SettingsError, StepEnvError) as exc:
            return Outcome.fail(str(exc), permanent=True)
        if ctx.cancel.is_set():
            return Outcome.fail("cancelled")
        ctx.work_dir.mkdir(parents=True, exist_ok=True)
        _write_header(ctx.log, shell, cwd, command)
        try:
            proc, pump = start(
                [shell, "-c", command], cwd, step_env.env, ctx.log, secrets=step_env.secrets
            )
        except OSError as exc:
            return _spawn_failure(exc, shell, cwd)
        cancelled = supervise(proc, ctx)
        if pump is not None:
            pump.join(_PUMP_DRAIN)
        if cancelled:
            return Outcome.fail("cancelled", exit_code=proc.returncode)
        return _outcome(proc.returncode, ctx.output_path)


def _read_settings(settings: Mapping[str, Any], project_dir: Path) -> tuple[str, str, Path]:
    command = settings.get("command")
    if not isinstance(command, str) or not command.strip():
        raise _SettingsError("shell.command must be a non-empty string")
    shell = settings.get("shell") or DEFAULT_SHELL
    if not isinstance(shell, str):
        raise _SettingsError(f"shell.shell must be a path, got {shell!r}")
    cwd = _resolve_cwd(settings.get("cwd") or ".", project_dir)
    if not cwd.is_dir():
        problem = "is not a directory" if cwd.exists() else "does not exist"
        raise _SettingsError(f"working directory {cwd} {problem}")
    return command, shell, cwd


def _resolve_cwd(value: Any, project_dir: Path) -> Path:
    if not isinstance(value, str | os.PathLike):
        raise _SettingsError(f"shell.cwd must be a path, got {value!r}")
    path = Path(value)
    return path if path.is_absolute() else project_dir / path


def _write_header(log: BinaryIO, shell: str, cwd: Path, command: str) -> None:
    shown = "\n> ".join(command.splitlines())
    log.write(f"[maestro] {shell} -c, in {cwd}\n$ {shown}\n".encode(errors="replace"))
    log.flush()


def start(
    argv: list[str],
    cwd: Path,
    env: dict[str, str],
    log: BinaryIO,
    *,
    secrets: list[str] | None = None,
) -> tuple[subprocess.Popen[bytes], threading.Thread | None]:
    """Start the command in its own session, its stdout and stderr pumped to ``log`` (masked
    with ``secrets``) by the returned thread. It is held (``warden.Hold``) until
    :func:`supervise` has its warden standing."""
    hold = Hold()
    try:
        proc = HeldPopen(
            hold.argv(argv, env, cwd),
            cwd=cwd,
            env=env,
            stdin=hold.stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    finally:
        hold.spawned()
    proc.hold = hold
    assert proc.stdout is not None and proc.stderr is not None
    pipes = {proc.stdout: STDOUT, proc.stderr: STDERR}
    pump = threading.Thread(
        target=_pump, args=(pipes, log, secrets or []), name="shell-log", daemon=True
    )
    pump.start()
    return proc, pump


def _pump(pipes: dict[IO[bytes], int], log: BinaryIO, secrets: list[str]) -> None:
    """Copy the command's stdout and stderr, masked, to the log until both end, or until the
    log is closed."""
    scrubbers = {stream: ScrubbingStream(secrets) for stream in pipes.values()}
    with selectors.DefaultSelector() as selector, contextlib.ExitStack() as closing:
        for pipe, stream in pipes.items():
            closing.enter_context(pipe)
            selector.register(pipe, selectors.EVENT_READ, stream)
        while selector.get_map():
            for key, _ in selector.select():
                chunk = os.read(key.fd, 65536)
                stream = key.data
                if not chunk:
                    selector.unregister(key.fileobj)
                    chunk_out = scrubbers[stream].flush()
                else:
                    chunk_out = scrubbers[stream].feed(chunk)
                if not _write_out(log, chunk_out, stream):
                    return


def _write_out(log: BinaryIO, data: bytes, stream: int = STDOUT) -> bool:
    """False when the attempt ended and its log was closed."""
    if not data:
        return True
    try:
        write_stream = getattr(log, "write_stream", None)
        if write_stream is not None:
            write_stream(data, stream)
        else:
            log.write(data)
        log.flush()
    except (OSError, ValueError):
        return False
    return True


def _spawn_failure(exc: OSError, shell: str, cwd: Path) -> Outcome:
    reason = exc.strerror or str(exc)
    if exc.filename is not None and str(exc.filename) == str(cwd):
        return Outcome.fail(f"cannot enter working directory {cwd}: {reason}", permanent=True)
    if isinstance(exc, FileNotFoundError | PermissionError | NotADirectoryError):
        return Outcome.fail(f"cannot run shell {shell}: {reason}", permanent=True)
    return Outcome.fail(f"cannot start the command: {exc}")


def supervise(proc: subprocess.Popen[bytes], ctx: RuntimeContext) -> bool:
    """Wait for the command; True when it had to be stopped because of ``ctx.cancel``. A
    warden kills the command's group if this worker dies meanwhile (``warden.py``)."""
    warden = guard(proc.pid, lambda: _kill_now(proc), getattr(proc, "hold", None))
    try:
        if _wait_or_cancel(proc, ctx.cancel):
            return False
        _terminate(proc, ctx.kill_grace)
        return True
    except BaseException:  # never leave the group running behind an unexpected error
        _kill_now(proc)
        raise
    finally:
        warden.release()


def _kill_now(proc: subprocess.Popen[bytes]) -> None:
    _signal_group(proc.pid, signal.SIGKILL)
    proc.wait()


def _wait_or_cancel(proc: subprocess.Popen[bytes], cancel: threading.Event) -> bool:
    """True when the process exited by itself, False when ``cancel`` was set first."""
    delay = _POLL_FIRST
    while proc.poll() is None:
        if cancel.wait(delay):
            return proc.poll() is not None
        delay = min(delay * 2, _POLL_MAX)
    return True


def _terminate(proc: subprocess.Popen[bytes], grace: float) -> int:
    """SIGTERM the process group, give it ``grace`` seconds, then SIGKILL what is left."""
    _signal_group(proc.pid, signal.SIGTERM)
    if not _wait_group_gone(proc, grace):
        _signal_group(proc.pid, signal.SIGKILL)
    return proc.wait()


def _wait_group_gone(proc: subprocess.Popen[bytes], grace: float) -> bool:
    deadline = time.monotonic() + grace
    delay = _POLL_FIRST
    while _group_alive(proc):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(delay, remaining))
        delay = min(delay * 2, _POLL_MAX)
    return True


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # the whole group has already gone
        os.killpg(pgid, sig)


def _group_alive(proc: subprocess.Popen[bytes]) -> bool:
    """Whether the command's process group still has a running (non-zombie) member."""
    proc.poll()  # reap the leader, so that it does not count as a member
    try:
        os.killpg(proc.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _has_running_member(proc.pid)


def _has_running_member(pgid: int) -> bool:
    """Scan /proc: orphans may linger as zombies where PID 1 does not reap them promptly."""
    try:
        entries = [entry for entry in os.scandir("/proc") if entry.name.isdigit()]
    except OSError:
        return True
    for entry in entries:
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False


def _outcome(returncode: int, output_path: Path) -> Outcome:
    if returncode != 0:
        return Outcome.fail(_exit_message(returncode), exit_code=returncode)
    try:
        outputs = read_outputs(output_path)
    except OutputError as exc:
        return Outcome.fail(f"invalid $MAESTRO_OUTPUT: {exc}", exit_code=0)
    return Outcome.ok(outputs, exit_code=0)


def _exit_message(returncode: int) -> str:
    return f"command {exit_status(returncode)}"
