"""The child process of a ``python`` step: imports the callable, calls it, writes the result.

Run by ``python.py`` as ``python -c <this file's source> REQUEST`` in the project folder, with
the step's clean environment (``step_env.py``): the callable runs in a process of its own, so
it cannot read the worker's environment or memory, and a stop can kill it. Only the standard
library is used, so that nothing of the worker is imported into the step's process.

``REQUEST`` is a JSON file: ``{"callable", "kwargs", "context", "project_dir", "result"}``;
the answer is written, as JSON, to the file named by ``result``:
``{"ok": true, "result": <the return value>}`` or
``{"ok": false, "error": "<message>", "permanent": <bool>}``. Tracebacks go to stderr, which
is the attempt log. A child that dies without writing its answer (killed, ``os._exit``) is
reported by the parent from its exit code.
"""

from __future__ import annotations

import importlib
import inspect
import json
import sys
import traceback
from typing import Any

CONTEXT_KWARG = "maestro_context"


class CallableError(Exception):
    """The callable cannot be resolved or called as configured (a permanent failure)."""


def resolve_callable(spec: Any) -> Any:
    """Import ``"package.module:attr.path"``."""
    if not isinstance(spec, str) or spec.count(":") != 1:
        raise CallableError(f"python.callable must be 'package.module:function', got {spec!r}")
    module_name, _, attr_path = spec.partition(":")
    if not module_name or not attr_path:
        raise CallableError(f"python.callable must be 'package.module:function', got {spec!r}")
    try:
        obj: Any = importlib.import_module(module_name)
    except (ImportError, SyntaxError) as exc:
        raise CallableError(f"cannot import {module_name!r}: {exc}") from exc
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise CallableError(f"{module_name!r} has no attribute {attr_path!r}") from None
    if not callable(obj):
        raise CallableError(f"{spec} is not callable (it is a {type(obj).__name__})")
    return obj


def call_kwargs(func: Any, spec: str, raw: Any, context: dict[str, Any]) -> dict[str, Any]:
    """The kwargs, plus ``maestro_context`` when the callable declares it by name."""
    if not isinstance(raw, dict) or not all(isinstance(key, str) for key in raw):
        raise CallableError(f"python.kwargs must be a map of names to values, got {raw!r}")
    kwargs = dict(raw)
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):  # some builtins have no signature
        return kwargs
    if CONTEXT_KWARG in kwargs:
        raise CallableError(f"python.kwargs may not set {CONTEXT_KWARG!r}: it is reserved")
    param = signature.parameters.get(CONTEXT_KWARG)
    keyword = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if param is not None and param.kind in keyword:
        kwargs[CONTEXT_KWARG] = context
    try:
        signature.bind(**kwargs)
    except TypeError as exc:
        raise CallableError(f"cannot call {spec} with these kwargs: {exc}") from None
    return kwargs


def _failure(exc: BaseException) -> dict[str, Any]:
    tb = exc.__traceback__.tb_next if exc.__traceback__ else None  # skip this module's frame
    sys.stderr.write("".join(traceback.format_exception(type(exc), exc, tb)))
    message = traceback.format_exception_only(type(exc), exc)[-1].strip()
    return {"ok": False, "error": message, "permanent": False}


def run(request: dict[str, Any]) -> dict[str, Any]:
    """Resolve, call and answer; never raises."""
    spec = request.get("callable")
    try:
        func = resolve_callable(spec)
        kwargs = call_kwargs(func, str(spec), request.get("kwargs") or {}, request["context"])
    except CallableError as exc:
        return {"ok": False, "error": str(exc), "permanent": True}
    except Exception as exc:  # the module raised while being imported
        return _failure(exc)
    try:
        result = func(**kwargs)
    except (Exception, SystemExit) as exc:
        return _failure(exc)
    return {"ok": True, "result": result}


def _write_answer(path: str, answer: dict[str, Any]) -> None:
    try:
        text = json.dumps(answer, allow_nan=False)
    except (TypeError, ValueError) as exc:
        text = json.dumps(
            {
                "ok": False,
                "error": f"the callable's outputs are not JSON-serializable: {exc}",
                "permanent": False,
            }
        )
    with open(path, "w", encoding="utf-8") as out:
        out.write(text)


def main(argv: list[str]) -> None:
    with open(argv[1], encoding="utf-8") as file:
        request = json.load(file)
    sys.path.insert(0, request["project_dir"])
    answer = run(request)
    sys.stdout.flush()
    sys.stderr.flush()
    _write_answer(request["result"], answer)


if __name__ == "__main__":
    main(sys.argv)
