"""Step runtimes: outputs parsing, noop, sleep, shell (process groups, cancel) and python."""

from __future__ import annotations

import io
import os
import signal
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from workers.runtimes import RUNTIMES, get_runtime
from workers.runtimes.base import Outcome, RuntimeContext
from workers.runtimes.noop import NoopRuntime
from workers.runtimes.outputs import MAX_OUTPUT_BYTES, OutputError, read_outputs
from workers.runtimes.python import PythonRuntime
from workers.runtimes.shell import ShellRuntime
from workers.runtimes.sleep import SleepRuntime

MakeCtx = Callable[..., RuntimeContext]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    path = tmp_path / "project"
    path.mkdir()
    return path


@pytest.fixture
def make_ctx(tmp_path: Path, project: Path) -> Iterator[MakeCtx]:
    opened: list[Any] = []

    def make(
        step_type: str,
        settings: dict[str, Any],
        *,
        name: str = "attempt",
        env: dict[str, str] | None = None,
        kill_grace: float = 5.0,
        log: Any = None,
    ) -> RuntimeContext:
        work = tmp_path / f"work-{name}"
        work.mkdir()
        if log is None:
            log = open(tmp_path / f"{name}.log", "ab")  # noqa: SIM115 - closed at teardown
            opened.append(log)
        return RuntimeContext(
            attempt_id=1,
            run_id=7,
            step_id="step",
            attempt_number=2,
            step_type=step_type,
            settings=settings,
            env=env or {},
            project_dir=project,
            work_dir=work,
            log=log,
            cancel=threading.Event(),
            kill_grace=kill_grace,
        )

    yield make
    for log in opened:
        log.close()


def log_text(ctx: RuntimeContext) -> str:
    ctx.log.flush()
    return Path(ctx.log.name).read_text()


def cancel_after(ctx: RuntimeContext, seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, ctx.cancel.set)
    timer.start()
    return timer


def is_gone(pid: int) -> bool:
    """The process no longer exists, or is a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rpartition(")")[2].split()[0] == "Z"


def wait_all_gone(pids: list[int], timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while not all(is_gone(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


# -- outputs ---------------------------------------------------------------------------------


def test_outputs_missing_or_blank_file_is_empty(tmp_path: Path) -> None:
    assert read_outputs(tmp_path / "nothing") == {}
    (tmp_path / "blank").write_text("\n  \n")
    assert read_outputs(tmp_path / "blank") == {}


def test_outputs_json_object(tmp_path: Path) -> None:
    path = tmp_path / "out"
    path.write_text('\n{"rows": 3, "tables": ["a", "b"], "nested": {"x": null}}\n')
    assert read_outputs(path) == {"rows": 3, "tables": ["a", "b"], "nested": {"x": None}}


def test_outputs_key_value_lines_decode_json_values(tmp_path: Path) -> None:
    path = tmp_path / "out"
    path.write_text(
        textwrap.dedent(
            """\
            # a comment
            rows=42

            ok = true
            ratio=0.5
            list=[1,2]
            map={"a": 1}
            name=plays
            ds=2024-01-01
            id=007
            quoted="42"
            expr=a=b
            bad_float=NaN
            empty=
            rows=43
            """
        )
    )
    assert read_outputs(path) == {
        "rows": 43,
        "ok": True,
        "ratio": 0.5,
        "list": [1, 2],
        "map": {"a": 1},
        "name": "plays",
        "ds": "2024-01-01",
        "id": "007",
        "quoted": "42",
        "expr": "a=b",
        "bad_float": "NaN",
        "empty": "",
    }


def test_outputs_malformed_line_names_its_number(tmp_path: Path) -> None:
    path = tmp_path / "out"
    path.write_text("a=1\n\njust words\n")
    with pytest.raises(OutputError, match="line 3"):
        read_outputs(path)
    path.write_text("a=1\n=2\n")
    with pytest.raises(OutputError, match="line 2"):
        read_outputs(path)


def test_outputs_json_that_is_not_an_object_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "out"
    path.write_text("[1, 2]\n")
    with pytest.raises(OutputError, match="line 1"):
        read_outputs(path)


def test_outputs_size_cap(tmp_path: Path) -> None:
    path = tmp_path / "out"
    path.write_bytes(b"a=1\n" + b"#" * (MAX_OUTPUT_BYTES - 5) + b"\n")
    assert read_outputs(path) == {"a": 1}
    path.write_bytes(b"a=1\n" + b"#" * (MAX_OUTPUT_BYTES - 4) + b"\n")
    with pytest.raises(OutputError, match="larger than"):
        read_outputs(path)


def test_outputs_must_be_utf8(tmp_path: Path) -> None:
    path = tmp_path / "out"
    path.write_bytes(b"a=\xff\n")
    with pytest.raises(OutputError, match="UTF-8"):
        read_outputs(path)


# -- registry, noop, sleep -------------------------------------------------------------------


def test_registry() -> None:
    assert set(RUNTIMES) == {
        "noop",
        "sleep",
        "shell",
        "python",
        "spark",
        "sql",
        "stream",
        "http",
        "notebook",
    }
    assert isinstance(get_runtime("shell"), ShellRuntime)
    assert isinstance(get_runtime("python"), PythonRuntime)
    for missing in ("foreach", "subworkflow", "nope"):
        assert get_runtime(missing) is None


def test_noop_succeeds(make_ctx: MakeCtx) -> None:
    assert NoopRuntime().run(make_ctx("noop", {})) == Outcome.ok()


@pytest.mark.parametrize("duration", [0.05, 0, timedelta(milliseconds=50), "0.01"])
def test_sleep_succeeds(make_ctx: MakeCtx, duration: Any) -> None:
    outcome = SleepRuntime().run(make_ctx("sleep", {"duration": duration}))
    assert outcome.status == "succeeded"


def test_sleep_waits_the_duration(make_ctx: MakeCtx) -> None:
    started = time.monotonic()
    SleepRuntime().run(make_ctx("sleep", {"duration": timedelta(seconds=0.2)}))
    assert time.monotonic() - started >= 0.2


def test_sleep_cancel(make_ctx: MakeCtx) -> None:
    ctx = make_ctx("sleep", {"duration": timedelta(seconds=30)})
    timer = cancel_after(ctx, 0.1)
    started = time.monotonic()
    outcome = SleepRuntime().run(ctx)
    timer.join()
    assert time.monotonic() - started < 5
    assert outcome.status == "failed"
    assert outcome.error == "cancelled"


@pytest.mark.parametrize("duration", [None, "soon", -1, True, float("inf")])
def test_sleep_bad_duration_is_permanent(make_ctx: MakeCtx, duration: Any) -> None:
    outcome = SleepRuntime().run(make_ctx("sleep", {"duration": duration}))
    assert outcome.status == "failed"
    assert outcome.permanent


# -- shell -----------------------------------------------------------------------------------


def run_shell(make_ctx: MakeCtx, command: str, **settings: Any) -> tuple[Outcome, RuntimeContext]:
    ctx = make_ctx("shell", {"command": command, **settings})
    return ShellRuntime().run(ctx), ctx


def test_shell_success_with_key_value_outputs(make_ctx: MakeCtx) -> None:
    outcome, ctx = run_shell(
        make_ctx, "echo rows=3 >> $MAESTRO_OUTPUT; echo table=plays >> $MAESTRO_OUTPUT"
    )
    assert outcome == Outcome.ok({"rows": 3, "table": "plays"}, exit_code=0)
    assert "$ echo rows=3" in log_text(ctx)


def test_shell_json_outputs(make_ctx: MakeCtx) -> None:
    outcome, _ = run_shell(make_ctx, """printf '{"a": [1, 2], "b": "x"}' > "$MAESTRO_OUTPUT" """)
    assert outcome.outputs == {"a": [1, 2], "b": "x"}


def test_shell_no_outputs(make_ctx: MakeCtx) -> None:
    outcome, _ = run_shell(make_ctx, "true")
    assert outcome == Outcome.ok({}, exit_code=0)


def test_shell_malformed_outputs_fail(make_ctx: MakeCtx) -> None:
    outcome, _ = run_shell(make_ctx, "echo a=1 >> $MAESTRO_OUTPUT; echo oops >> $MAESTRO_OUTPUT")
    assert outcome.status == "failed"
    assert outcome.error is not None and "line 2" in outcome.error


def test_shell_failing_exit_code(make_ctx: MakeCtx) -> None:
    outcome, _ = run_shell(make_ctx, "echo rows=1 >> $MAESTRO_OUTPUT; exit 3")
    assert outcome.status == "failed"
    assert outcome.exit_code == 3
    assert outcome.error == "command exited with code 3"
    assert not outcome.permanent
    assert outcome.outputs == {}


def test_shell_killed_by_signal(make_ctx: MakeCtx) -> None:
    outcome, _ = run_shell(make_ctx, "kill -KILL $$")
    assert outcome.exit_code == -signal.SIGKILL
    assert outcome.error == "command killed by signal SIGKILL"


def test_shell_stdout_and_stderr_in_order(make_ctx: MakeCtx) -> None:
    # stdout and stderr are two pipes: each keeps its order, and writes apart in time keep
    # theirs (writes microseconds apart may swap, see shell.py)
    outcome, ctx = run_shell(
        make_ctx,
        "echo out1; sleep 0.1; echo err1 >&2; sleep 0.1; echo out2; sleep 0.1; "
        "echo err2 >&2; sleep 0.1; printf 'caf\\xc3\\xa9\\n'",
    )
    assert outcome.status == "succeeded"
    lines = log_text(ctx).splitlines()
    assert lines[-5:] == ["out1", "err1", "out2", "err2", "café"]


def test_shell_streams_each_keep_their_order(make_ctx: MakeCtx) -> None:
    outcome, ctx = run_shell(make_ctx, "for i in $(seq 200); do echo o$i; echo e$i >&2; done")
    assert outcome.status == "succeeded"
    lines = log_text(ctx).splitlines()
    assert [x for x in lines if x.startswith("o")] == [f"o{i}" for i in range(1, 201)]
    assert [x for x in lines if x.startswith("e")] == [f"e{i}" for i in range(1, 201)]


def test_shell_log_without_file_descriptor_is_pumped(make_ctx: MakeCtx) -> None:
    log = io.BytesIO()
    ctx = make_ctx("shell", {"command": "echo out; echo err >&2"}, log=log)
    outcome = ShellRuntime().run(ctx)
    assert outcome.status == "succeeded"
    assert log.getvalue().endswith(b"out\nerr\n")


def test_shell_cwd_relative_to_project_dir(make_ctx: MakeCtx, project: Path) -> None:
    (project / "sub").mkdir()
    outcome, _ = run_shell(make_ctx, 'echo "dir=$(pwd -P)" >> $MAESTRO_OUTPUT', cwd="sub")
    assert outcome.outputs == {"dir": str((project / "sub").resolve())}


def test_shell_absolute_cwd_kept(make_ctx: MakeCtx, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    outcome, _ = run_shell(make_ctx, 'echo "dir=$(pwd -P)" >> $MAESTRO_OUTPUT', cwd=str(elsewhere))
    assert outcome.outputs == {"dir": str(elsewhere.resolve())}


def test_shell_env(make_ctx: MakeCtx, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's variables stay out (but for basics such as HOME); the step's own win."""
    monkeypatch.setenv("FROM_WORKER", "worker")
    monkeypatch.setenv("HOME", "/home/worker")
    command = (
        'echo "a=$FROM_WORKER" > $MAESTRO_OUTPUT; echo "b=$OVERRIDDEN" >> $MAESTRO_OUTPUT;'
        'echo "home=$HOME" >> $MAESTRO_OUTPUT'
    )
    ctx = make_ctx("shell", {"command": command}, env={"OVERRIDDEN": "step value"})
    outcome = ShellRuntime().run(ctx)
    assert outcome.outputs == {"a": "", "b": "step value", "home": "/home/worker"}
    assert "OVERRIDDEN" not in os.environ
    assert "MAESTRO_OUTPUT" not in os.environ


def test_shell_missing_cwd_is_permanent(make_ctx: MakeCtx, project: Path) -> None:
    outcome, _ = run_shell(make_ctx, "true", cwd="no/such/dir")
    assert outcome.status == "failed"
    assert outcome.permanent
    assert outcome.error is not None and str(project / "no/such/dir") in outcome.error


def test_shell_missing_shell_is_permanent(make_ctx: MakeCtx) -> None:
    outcome, _ = run_shell(make_ctx, "true", shell="/no/such/shell")
    assert outcome.status == "failed"
    assert outcome.permanent
    assert outcome.error is not None and "/no/such/shell" in outcome.error


def test_shell_other_shell(make_ctx: MakeCtx) -> None:
    outcome, _ = run_shell(make_ctx, "echo x=1 >> $MAESTRO_OUTPUT", shell="/bin/sh")
    assert outcome.outputs == {"x": 1}


def test_shell_empty_command_is_permanent(make_ctx: MakeCtx) -> None:
    outcome, _ = run_shell(make_ctx, "  ")
    assert outcome.permanent


def test_shell_fast_command_is_fast(make_ctx: MakeCtx) -> None:
    ctx = make_ctx("shell", {"command": "true"})
    runtime = ShellRuntime()
    runtime.run(ctx)  # warm up
    started = time.monotonic()
    for _ in range(10):
        assert runtime.run(ctx).status == "succeeded"
    assert (time.monotonic() - started) / 10 < 0.2


def test_shell_cancel_kills_the_whole_process_group(make_ctx: MakeCtx, project: Path) -> None:
    command = textwrap.dedent(
        """\
        sleep 30 & echo $! >> pids
        bash -c 'sleep 30 & echo $! >> pids; wait' & echo $! >> pids
        echo $$ >> pids
        wait
        """
    )
    ctx = make_ctx("shell", {"command": command})
    timer = cancel_after(ctx, 0.3)
    started = time.monotonic()
    outcome = ShellRuntime().run(ctx)
    elapsed = time.monotonic() - started
    timer.join()
    assert outcome.status == "failed"
    assert outcome.error == "cancelled"
    assert outcome.exit_code is not None
    assert elapsed < 3
    pids = [int(line) for line in (project / "pids").read_text().split()]
    assert len(pids) == 4
    assert wait_all_gone(pids)


def test_shell_cancel_sigkills_after_grace(make_ctx: MakeCtx, project: Path) -> None:
    ctx = make_ctx(
        "shell", {"command": "trap '' TERM; echo $$ > pid; sleep 30; true"}, kill_grace=0.5
    )
    timer = cancel_after(ctx, 0.3)
    started = time.monotonic()
    outcome = ShellRuntime().run(ctx)
    elapsed = time.monotonic() - started
    timer.join()
    assert outcome.error == "cancelled"
    assert outcome.exit_code == -signal.SIGKILL
    assert 0.75 <= elapsed < 3
    assert wait_all_gone([int((project / "pid").read_text())])


def test_shell_cancelled_before_start(make_ctx: MakeCtx, project: Path) -> None:
    ctx = make_ctx("shell", {"command": "touch ran"})
    ctx.cancel.set()
    assert ShellRuntime().run(ctx).error == "cancelled"
    assert not (project / "ran").exists()


# -- python ----------------------------------------------------------------------------------

STEPS_MODULE = """\
import sys
import time


def returns_dict(x, y=2):
    print("adding", x, y)
    return {"sum": x + y, "pair": (x, y)}


def returns_value():
    return 42


def returns_none():
    return None


def returns_object():
    return {"thing": object()}


def boom():
    raise ValueError("bad input")


def exits(code):
    sys.exit(code)


def writes_output_file(maestro_context):
    with open(maestro_context["output_path"], "a") as f:
        f.write("from_file=1\\nboth=file\\n")
    return {"both": "returned"}


def with_context(a, maestro_context):
    return {"a": a, "ctx": maestro_context}


def takes_kwargs(**kwargs):
    return {"keys": sorted(kwargs)}


def chatter(name, n=50):
    for i in range(n):
        print(f"{name} out {i}")
        sys.stderr.write(f"{name} err {i}\\n")
        time.sleep(0.001)


def environment_then_sleep():
    import os
    print("keys:", sorted(os.environ), flush=True)
    time.sleep(30)


class Tools:
    @staticmethod
    def double(x):
        return {"x": x * 2}


VALUE = 3
"""


@pytest.fixture
def steps_module(project: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A uniquely named module in the project folder; sys.path is restored afterwards."""
    name = f"steps_{uuid.uuid4().hex[:10]}"
    (project / f"{name}.py").write_text(STEPS_MODULE)
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield name
    sys.modules.pop(name, None)


def run_python(
    make_ctx: MakeCtx, spec: str, kwargs: dict[str, Any] | None = None, **extra: Any
) -> tuple[Outcome, RuntimeContext]:
    ctx = make_ctx("python", {"callable": spec, "kwargs": kwargs or {}}, **extra)
    return PythonRuntime().run(ctx), ctx


def test_python_returns_dict(make_ctx: MakeCtx, steps_module: str, project: Path) -> None:
    outcome, ctx = run_python(make_ctx, f"{steps_module}:returns_dict", {"x": 1, "y": 5})
    assert outcome == Outcome.ok({"sum": 6, "pair": [1, 5]})
    assert "adding 1 5\n" in log_text(ctx)


def test_python_other_results(make_ctx: MakeCtx, steps_module: str) -> None:
    assert run_python(make_ctx, f"{steps_module}:returns_value", name="a")[0].outputs == {
        "result": 42
    }
    assert run_python(make_ctx, f"{steps_module}:returns_none", name="b")[0] == Outcome.ok()
    outcome = run_python(make_ctx, f"{steps_module}:Tools.double", {"x": 4}, name="c")[0]
    assert outcome.outputs == {"x": 8}


def test_python_outputs_must_be_json(make_ctx: MakeCtx, steps_module: str) -> None:
    outcome, _ = run_python(make_ctx, f"{steps_module}:returns_object")
    assert outcome.status == "failed"
    assert outcome.error is not None and "JSON" in outcome.error


def test_python_exception(make_ctx: MakeCtx, steps_module: str) -> None:
    outcome, ctx = run_python(make_ctx, f"{steps_module}:boom")
    assert outcome.status == "failed"
    assert outcome.error == "ValueError: bad input"
    assert not outcome.permanent
    log = log_text(ctx)
    assert "Traceback (most recent call last)" in log
    assert 'raise ValueError("bad input")' in log


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_such_module_for_maestro_tests:f", "cannot import"),
        ("{module}:missing", "has no attribute"),
        ("{module}:VALUE", "not callable"),
        ("{module}", "package.module:function"),
        ("{module}:returns_dict", "cannot call"),  # x is required
    ],
)
def test_python_bad_callable_is_permanent(
    make_ctx: MakeCtx, steps_module: str, spec: str, message: str
) -> None:
    outcome, _ = run_python(make_ctx, spec.format(module=steps_module))
    assert outcome.status == "failed"
    assert outcome.permanent
    assert outcome.error is not None and message in outcome.error


@pytest.mark.parametrize(
    ("source", "permanent", "message"),
    [
        ("from os import no_such_name\n", True, "cannot import"),
        ("def broken(:\n", True, "cannot import"),
        ("raise RuntimeError('db down')\n", False, "RuntimeError: db down"),
    ],
)
def test_python_module_failing_at_import(
    make_ctx: MakeCtx,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    source: str,
    permanent: bool,
    message: str,
) -> None:
    name = f"broken_{uuid.uuid4().hex[:10]}"
    (project / f"{name}.py").write_text(source)
    monkeypatch.setattr(sys, "path", list(sys.path))
    outcome, _ = run_python(make_ctx, f"{name}:f")
    assert outcome.status == "failed"
    assert outcome.permanent is permanent
    assert outcome.error is not None and message in outcome.error


def test_python_sys_exit_fails(make_ctx: MakeCtx, steps_module: str) -> None:
    outcome, _ = run_python(make_ctx, f"{steps_module}:exits", {"code": 3})
    assert outcome == Outcome.fail("SystemExit: 3")


def test_python_maestro_context(make_ctx: MakeCtx, steps_module: str) -> None:
    outcome, ctx = run_python(make_ctx, f"{steps_module}:with_context", {"a": 1}, env={"K": "v"})
    assert outcome.outputs == {
        "a": 1,
        "ctx": {
            "run_id": 7,
            "step_id": "step",
            "attempt": 2,
            "env": {"K": "v"},
            "output_path": str(ctx.output_path),
        },
    }
    assert "K" not in os.environ


def test_python_context_only_when_asked(make_ctx: MakeCtx, steps_module: str) -> None:
    outcome, _ = run_python(make_ctx, f"{steps_module}:takes_kwargs", {"a": 1})
    assert outcome.outputs == {"keys": ["a"]}


def test_python_output_file_merged_under_return(make_ctx: MakeCtx, steps_module: str) -> None:
    outcome, _ = run_python(make_ctx, f"{steps_module}:writes_output_file")
    assert outcome.outputs == {"from_file": 1, "both": "returned"}


def test_python_output_goes_to_each_attempts_log(
    make_ctx: MakeCtx, steps_module: str, capsys: pytest.CaptureFixture[str]
) -> None:
    contexts = {
        name: make_ctx(
            "python", {"callable": f"{steps_module}:chatter", "kwargs": {"name": name}}, name=name
        )
        for name in ("alpha", "beta")
    }
    outcomes: dict[str, Outcome] = {}

    def attempt(name: str) -> None:
        outcomes[name] = PythonRuntime().run(contexts[name])

    threads = [threading.Thread(target=attempt, args=(name,)) for name in contexts]
    for thread in threads:
        thread.start()
    print("main thread line")
    for thread in threads:
        thread.join()

    assert all(outcome.status == "succeeded" for outcome in outcomes.values())
    for name, other in (("alpha", "beta"), ("beta", "alpha")):
        lines = log_text(contexts[name]).splitlines()[1:]  # after the header
        assert len(lines) == 100
        assert all(line.startswith(f"{name} ") for line in lines)
        assert f"{name} out 49" in lines and f"{name} err 49" in lines
        assert not any(other in line or "main" in line for line in lines)
    assert "main thread line" in capsys.readouterr().out


def test_python_runs_in_its_own_process_and_can_be_stopped(
    make_ctx: MakeCtx, steps_module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The callable cannot read the worker's environment, and a stop ends it."""
    monkeypatch.setenv("MAESTRO_DATABASE_URL", "postgresql://maestro:platform-secret@db/m")
    ctx = make_ctx("python", {"callable": f"{steps_module}:environment_then_sleep"})
    threading.Timer(1.0, ctx.cancel.set).start()
    started = time.monotonic()
    outcome = PythonRuntime().run(ctx)
    assert outcome.status == "failed" and outcome.error == "cancelled"
    assert time.monotonic() - started < 4
    log = log_text(ctx)
    assert "keys:" in log and "MAESTRO_OUTPUT" in log
    assert "platform-secret" not in log and "MAESTRO_DATABASE_URL" not in log
