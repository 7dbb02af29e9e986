"""A step's processes die with their worker, however it dies (workers/runtimes/warden.py).

Real processes: a "worker" process runs a shell step whose command leaves a grandchild that
would write a file a little later; the worker is SIGKILLed mid-step. Its step's whole process
group must be gone within 2 s and the file never written — while the same command started
the way a step is started, but without a warden, outlives its parent (the control)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import BinaryIO

from tests.workers.test_runtimes import is_gone, wait_all_gone
from workers.runtimes.base import Outcome, RuntimeContext
from workers.runtimes.shell import ShellRuntime

REPO = Path(__file__).resolve().parents[2]
#: the step: a grandchild that writes MARK after 1.5 s, and a shell that lives on
COMMAND = 'echo $$ > "$PIDS"; (sleep 1.5; touch "$MARK") & echo $! >> "$PIDS"; sleep 60'

WORKER = textwrap.dedent(
    """
    import sys, threading
    from pathlib import Path
    from workers.runtimes.base import Outcome, RuntimeContext
    from workers.runtimes.shell import ShellRuntime

    tmp = Path(sys.argv[1])
    (tmp / "work").mkdir()
    ctx = RuntimeContext(
        attempt_id=1, run_id=1, step_id="step", attempt_number=1, step_type="shell",
        settings={"command": sys.argv[2]},
        env={"PIDS": str(tmp / "pids"), "MARK": str(tmp / "mark")},
        project_dir=tmp, work_dir=tmp / "work", log=open(tmp / "log", "ab"),
        cancel=threading.Event(),
    )
    ShellRuntime().run(ctx)
    """
)


def _pids(path: Path, count: int, timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            lines = path.read_text().split()
            if len(lines) >= count:
                return [int(p) for p in lines[:count]]
        time.sleep(0.02)
    raise AssertionError(f"the step did not write its pids to {path}")


def test_a_sigkilled_workers_step_dies_with_it(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    worker = subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path), COMMAND], env=env)
    try:
        step_pids = _pids(tmp_path / "pids", 2)
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        assert wait_all_gone(step_pids, timeout=2.0), "the step outlived its worker"
        time.sleep(2.0)  # past the moment the grandchild would have written its file
        assert not (tmp_path / "mark").exists()
    finally:
        for pid in _pids(tmp_path / "pids", 2) if (tmp_path / "pids").exists() else []:
            if not is_gone(pid):
                os.kill(pid, signal.SIGKILL)


def test_without_a_warden_the_same_step_would_outlive_its_parent(tmp_path: Path) -> None:
    """The control: a command in a session of its own, its parent SIGKILLed, lives on."""
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys; subprocess.Popen(['/bin/bash', '-c', sys.argv[1]],"
            " start_new_session=True); import time; time.sleep(60)",
            COMMAND,
        ],
        env={**os.environ, "PIDS": str(tmp_path / "pids"), "MARK": str(tmp_path / "mark")},
    )
    step_pids = _pids(tmp_path / "pids", 2)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    try:
        deadline = time.monotonic() + 5
        while not (tmp_path / "mark").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (tmp_path / "mark").exists(), "the orphan should have written its file"
    finally:
        for pid in step_pids:
            if not is_gone(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_step_that_ends_normally_keeps_what_it_left_in_the_background(tmp_path: Path) -> None:
    """The warden is released, not fired: background work a command leaves after a normal
    exit is not killed (shell.py says so), and no process is left behind by the warden."""
    mark = tmp_path / "later"
    with open(tmp_path / "log", "ab") as log:
        assert run_shell(f"(sleep 0.5; touch {mark}) & exit 0", tmp_path, log).status == "succeeded"
    deadline = time.monotonic() + 5
    while not mark.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert mark.exists()
    wardens = subprocess.run(  # this process's wardens only: other suites may run beside it
        ["pgrep", "-P", str(os.getpid()), "-f", "maestro-warden"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    assert [p for p in wardens if not is_gone(int(p))] == []


def run_shell(command: str, folder: Path, log: BinaryIO) -> Outcome:
    """Run ``command`` as a shell step in ``folder``, logging to ``log``."""
    (folder / "work").mkdir(exist_ok=True)
    ctx = RuntimeContext(
        attempt_id=1,
        run_id=1,
        step_id="step",
        attempt_number=1,
        step_type="shell",
        settings={"command": command},
        env={},
        project_dir=folder,
        work_dir=folder / "work",
        log=log,
        cancel=threading.Event(),
    )
    return ShellRuntime().run(ctx)


HELD_WORKER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from workers.runtimes.shell import start

    tmp = Path(sys.argv[1])
    env = {**os.environ, "MARK": str(tmp / "mark")}
    proc, _ = start(["/bin/bash", "-c", sys.argv[2]], tmp, env, open(tmp / "log", "ab"))
    (tmp / "held").write_text(str(proc.pid))
    os.kill(os.getpid(), signal.SIGKILL)  # dies before supervise() could stand a warden
    """
)


def test_a_worker_killed_before_the_warden_stands_never_runs_the_step(tmp_path: Path) -> None:
    """The window between a step's start and its warden's is closed: the step is started held
    and runs only once the warden stands; a worker dying in between takes the step with it
    before any of its command ran."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    worker = subprocess.run(
        [sys.executable, "-c", HELD_WORKER, str(tmp_path), 'touch "$MARK"; sleep 60'],
        env=env,
        check=False,
    )
    assert worker.returncode == -signal.SIGKILL
    held = int((tmp_path / "held").read_text())
    assert wait_all_gone([held], timeout=2.0), "the held step outlived its worker"
    assert not (tmp_path / "mark").exists(), "the step's command ran without a warden"


def test_a_held_step_runs_as_itself_once_released(tmp_path: Path) -> None:
    """Released, the held shell becomes the command (same pid, hence the same group the
    warden watches), with stdin from /dev/null as before."""
    with open(tmp_path / "log", "ab") as log:
        outcome = run_shell(
            'echo "pid=$$ pgid=$(ps -o pgid= -p $$ | tr -d " ") stdin=$(readlink /proc/$$/fd/0)"'
            '; cat; echo "argv0=$0"',
            tmp_path,
            log,
        )
    assert outcome.status == "succeeded"
    text = (tmp_path / "log").read_text()
    line = next(line for line in text.splitlines() if line.startswith("pid="))
    fields = dict(part.split("=", 1) for part in line.split())
    assert fields["pid"] == fields["pgid"]
    assert fields["stdin"] == "/dev/null"
    assert "argv0=/bin/bash" in text
