"""The child process of a ``notebook`` step: runs the notebook with papermill, writes the answer.

Run by ``notebook.py`` as ``python -c <this file's source> REQUEST`` in the project folder,
with the step's clean environment, in a session of its own (so a stop can kill it). Only the
standard library and papermill (with what it brings: nbformat, jupyter_client, psutil) are
imported, nothing of the worker; the worker itself never imports this module (it passes its
source), so a worker without the 'notebook' extra still starts, and its notebook steps fail
saying what is missing.

``REQUEST`` is a JSON file: ``{"input", "output", "parameters", "kernel", "cwd", "result"}``;
the answer is written, as JSON, to the file named by ``result``:
``{"ok": true}`` or ``{"ok": false, "error": "<message>", "permanent": <bool>}``.

papermill starts the kernel in a session of its own, so SIGTERM to this process's group does not
reach it: the SIGTERM handler kills this process's descendants (the kernel) before exiting, and
ipykernel ends by itself once its parent is gone (``JPY_PARENT_PID``) should SIGKILL come first.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
from typing import Any

try:
    import nbformat
    import papermill
    import psutil
    from jupyter_client.kernelspec import NoSuchKernel
except ImportError as exc:  # the worker lacks the 'notebook' extra: the step says so
    _MISSING: str | None = str(exc)
else:
    _MISSING = None

#: how much of a failing cell's first line the error quotes
_SOURCE_CLIP = 60
_INJECTED_TAG = "injected-parameters"
_ERROR_TAG = "papermill-error-cell-tag"


def _kill_descendants(signum: int, _frame: Any) -> None:
    try:
        for child in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                child.kill()
    finally:
        os._exit(128 + signum)


def _tags(cell: Any) -> list[str]:
    tags = cell.get("metadata", {}).get("tags", [])
    return tags if isinstance(tags, list) else []


def _cell_number(output: str, cell_index: int) -> int:
    """The failing cell's number in the source notebook, from 1: the cell papermill injected
    for the parameters is not counted, nor the markdown cells it adds around an error (after
    ``cell_index`` was taken)."""
    try:
        cells = nbformat.read(output, as_version=4).cells  # type: ignore[no-untyped-call]
    except Exception:
        return cell_index + 1
    cells = [cell for cell in cells if _ERROR_TAG not in _tags(cell)]
    return sum(1 for cell in cells[:cell_index] if _INJECTED_TAG not in _tags(cell)) + 1


def _first_line(source: Any) -> str:
    text = source if isinstance(source, str) else ""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first if len(first) <= _SOURCE_CLIP else first[: _SOURCE_CLIP - 1] + "…"


def _cell_error(exc: Any, output: str) -> str:
    first = _first_line(exc.source)
    where = f"cell {_cell_number(output, int(exc.cell_index))}" + (f" ({first!r})" if first else "")
    evalue = str(exc.evalue).strip()
    return f"{where} failed: {exc.ename}: {evalue}" if evalue else f"{where} failed: {exc.ename}"


def run(request: dict[str, Any]) -> dict[str, Any]:
    """Execute the notebook; never raises."""
    if _MISSING is not None:
        return {
            "ok": False,
            "error": f"notebook steps need papermill and ipykernel (the 'notebook' extra): "
            f"{_MISSING}",
            "permanent": True,
        }
    try:
        papermill.execute_notebook(
            request["input"],
            request["output"],
            parameters=request.get("parameters") or {},
            kernel_name=request.get("kernel") or "python3",
            cwd=request.get("cwd"),
            log_output=True,
            progress_bar=False,
        )
    except papermill.PapermillExecutionError as exc:
        return {"ok": False, "error": _cell_error(exc, request["output"]), "permanent": False}
    except NoSuchKernel as exc:
        return {"ok": False, "error": f"no such kernel: {exc}", "permanent": True}
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}".strip()
        return {"ok": False, "error": f"cannot run the notebook: {message}", "permanent": False}
    return {"ok": True}


def main(argv: list[str]) -> None:
    signal.signal(signal.SIGTERM, _kill_descendants)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")
    with open(argv[1], encoding="utf-8") as file:
        request = json.load(file)
    answer = run(request)
    sys.stdout.flush()
    sys.stderr.flush()
    with open(request["result"], "w", encoding="utf-8") as out:
        out.write(json.dumps(answer))


if __name__ == "__main__":
    main(sys.argv)
