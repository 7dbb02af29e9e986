"""The notebook step type: real notebooks (written here with nbformat) run by papermill through
a real ipykernel python3 kernel, in a child process."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from tests.workers.conftest import NewCtx
from workers.runtimes import get_runtime
from workers.runtimes.notebook import NotebookRuntime

pytestmark = pytest.mark.timeout(180)


def write_notebook(path: Path, *cells: Any) -> Path:
    notebook = new_notebook(cells=list(cells))
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(notebook, path)
    return path


def parameters_cell(source: str) -> Any:
    cell = new_code_cell(source)
    cell.metadata["tags"] = ["parameters"]
    return cell


def pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def wait_gone(pid: int, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.1)
    return False


def context(new_ctx: NewCtx, tmp_path: Path, settings: dict[str, Any], **extra: Any) -> Any:
    logs = tmp_path / "logs" / "7" / "report.daily"
    logs.mkdir(parents=True, exist_ok=True)
    ctx, _ = new_ctx("notebook", settings, log_path=logs / "1.log", **extra)
    return ctx


def test_registered() -> None:
    assert isinstance(get_runtime("notebook"), NotebookRuntime)


def test_parameters_are_injected_outputs_are_read_and_the_executed_notebook_is_kept(
    new_ctx: NewCtx, workdir: Path, tmp_path: Path
) -> None:
    write_notebook(
        workdir / "report.ipynb",
        new_markdown_cell("# Daily report"),
        parameters_cell('ds = "1970-01-01"\nrows = 0'),
        new_code_cell(
            "import os, json\n"
            "total = rows * 2\n"
            "print('computing', ds, total)\n"
            "with open(os.environ['MAESTRO_OUTPUT'], 'w') as out:\n"
            "    json.dump({'ds': ds, 'total': total, 'cwd': os.getcwd(),"
            " 'step': os.environ['MAESTRO_WORKFLOW_ID'],"
            " 'leak': os.environ.get('MAESTRO_DATABASE_URL')}, out)\n"
        ),
    )
    ctx = context(
        new_ctx,
        tmp_path,
        {"path": "report.ipynb", "parameters": {"ds": "2024-05-01", "rows": 21}},
    )
    os.environ["MAESTRO_DATABASE_URL"] = "postgresql://worker-secret"
    try:
        outcome = NotebookRuntime().run(ctx)
    finally:
        del os.environ["MAESTRO_DATABASE_URL"]
    assert outcome.status == "succeeded", outcome.error
    executed = tmp_path / "logs" / "7" / "report.daily" / "1.ipynb"
    assert outcome.outputs == {
        "ds": "2024-05-01",
        "total": 42,
        "cwd": str(workdir.absolute()),
        "step": "wf",
        "leak": None,  # the worker's environment does not reach the kernel
        "output_path": str(executed),
    }
    kept = nbformat.read(executed, as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in kept.cells)
    printed = json.dumps([c.get("outputs") for c in kept.cells if c.cell_type == "code"])
    assert "computing 2024-05-01 42" in printed
    log = Path(ctx.log.name).read_text()
    assert "report.ipynb" in log


def test_a_failing_cell_fails_the_attempt_naming_the_cell_and_the_error(
    new_ctx: NewCtx, workdir: Path, tmp_path: Path
) -> None:
    write_notebook(
        workdir / "broken.ipynb",
        parameters_cell("divisor = 1"),
        new_code_cell("x = 1"),
        new_code_cell("# the bad one\nresult = x / divisor"),
        new_code_cell("print('never')"),
    )
    ctx = context(new_ctx, tmp_path, {"path": "broken.ipynb", "parameters": {"divisor": 0}})
    outcome = NotebookRuntime().run(ctx)
    assert outcome.status == "failed"
    assert not outcome.permanent
    assert outcome.error == ("cell 3 ('# the bad one') failed: ZeroDivisionError: division by zero")
    executed = tmp_path / "logs" / "7" / "report.daily" / "1.ipynb"
    assert executed.is_file()  # kept for a look at what ran


def kernel_pid_notebook(path: Path, pid_file: Path) -> Path:
    return write_notebook(
        path,
        new_code_cell(f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))"),
        new_code_cell("time.sleep(120)"),
    )


def test_the_notebook_timeout_kills_the_kernel_and_says_so(
    new_ctx: NewCtx, workdir: Path, tmp_path: Path
) -> None:
    pid_file = tmp_path / "kernel.pid"
    kernel_pid_notebook(workdir / "slow.ipynb", pid_file)
    ctx = context(
        new_ctx, tmp_path, {"path": "slow.ipynb", "timeout": "10 seconds"}, kill_grace=2.0
    )
    started = time.monotonic()
    outcome = NotebookRuntime().run(ctx)
    assert time.monotonic() - started < 30
    assert outcome.status == "failed"
    assert outcome.error == "notebook timed out after 10s"
    assert pid_file.exists()  # the kernel ran: the timeout stopped a running cell
    assert wait_gone(int(pid_file.read_text()))


def test_stop_kills_the_notebook_and_its_kernel(
    new_ctx: NewCtx, workdir: Path, tmp_path: Path
) -> None:
    pid_file = tmp_path / "kernel.pid"
    kernel_pid_notebook(workdir / "slow.ipynb", pid_file)
    ctx = context(new_ctx, tmp_path, {"path": "slow.ipynb"}, kill_grace=2.0)

    def stop_once_the_kernel_runs() -> None:
        deadline = time.monotonic() + 60
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        ctx.cancel.set()

    stopper = threading.Thread(target=stop_once_the_kernel_runs)
    stopper.start()
    outcome = NotebookRuntime().run(ctx)
    stopper.join()
    assert outcome.status == "failed"
    assert outcome.error == "cancelled"
    assert wait_gone(int(pid_file.read_text()))


def test_a_templated_timeout_arrives_rendered(
    new_ctx: NewCtx, workdir: Path, tmp_path: Path
) -> None:
    write_notebook(workdir / "quick.ipynb", new_code_cell("1 + 1"))
    ctx = context(new_ctx, tmp_path, {"path": "quick.ipynb", "timeout": "2 minutes"})
    outcome = NotebookRuntime().run(ctx)
    assert outcome.status == "succeeded", outcome.error
    assert set(outcome.outputs) == {"output_path"}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"path": "missing.ipynb"}, "notebook "),
        ({"path": "quick.ipynb", "timeout": "soon"}, "notebook.timeout: invalid duration"),
        ({"path": "quick.ipynb", "kernel": "no-such-kernel"}, "no such kernel"),
    ],
)
def test_what_cannot_work_fails_permanently(
    new_ctx: NewCtx, workdir: Path, tmp_path: Path, settings: dict[str, Any], message: str
) -> None:
    write_notebook(workdir / "quick.ipynb", new_code_cell("1 + 1"))
    ctx = context(new_ctx, tmp_path, settings)
    outcome = NotebookRuntime().run(ctx)
    assert outcome.status == "failed"
    assert outcome.permanent, outcome.error
    assert outcome.error is not None and outcome.error.startswith(message), outcome.error
