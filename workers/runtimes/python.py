"""The ``python`` step type: calls ``python.callable`` in the worker process.

``python: {callable: "package.module:function", kwargs: {...}}``; after the colon a dotted path
is allowed (``pkg.mod:Class.method``). ``ctx.project_dir`` is put at the front of ``sys.path``
(once per worker process) so project modules import. Modules are imported once per worker
process, as any Python import: a changed module is picked up by a restarted worker.

Calling:

* The callable is called with the rendered ``kwargs``. If it declares a parameter named
  ``maestro_context`` (by name; a bare ``**kwargs`` does not count) it also receives
  ``{"run_id", "step_id", "attempt", "env", "output_path"}``: ``env`` is the step's environment
  (``ctx.env``) and ``output_path`` the ``$MAESTRO_OUTPUT`` file as a string. ``os.environ`` is
  never changed, because several attempts share the process.
* Outputs: anything the callable wrote to ``output_path`` (read as for shell steps), updated
  with its return value: a dict is merged in, ``None`` adds nothing, any other value becomes
  ``{"result": value}``. Outputs must be JSON-serializable (they are normalised through JSON, so
  a tuple becomes a list), or the attempt fails.
* An exception (or ``sys.exit``) fails the attempt with ``"<type>: <message>"``; the traceback
  goes to the attempt log. A callable that cannot be found, imported or called with these
  kwargs is a permanent failure: retrying cannot fix it.
* While it runs, whatever the calling thread writes to ``sys.stdout``/``sys.stderr`` (print
  included) goes to the attempt log. This is a per-thread redirect: ``sys.stdout`` and
  ``sys.stderr`` are replaced, once, by proxies that write to the current thread's target when
  it has one and to the original stream otherwise, so concurrent attempts on other threads each
  keep their own log. Threads the callable starts itself, and child processes writing to file
  descriptors 1 and 2, are not redirected (pass ``stdout=sys.stdout`` to ``subprocess`` to send
  a child's output to the log).
* A Python call cannot be interrupted: ``ctx.cancel`` is only checked before the call. When an
  attempt is stopped, the executor abandons it and the thread keeps running until the callable
  returns; its result is then ignored.
"""

from __future__ import annotations

import importlib
import inspect
import json
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, TextIO, cast

from workers.runtimes.base import Outcome, RuntimeContext
from workers.runtimes.outputs import OutputError, read_outputs

CONTEXT_KWARG = "maestro_context"


class _CallableError(Exception):
    """The callable cannot be resolved or called as configured (a permanent failure)."""


class PythonRuntime:
    """Imports and calls a Python callable, with its output sent to the attempt log."""

    def run(self, ctx: RuntimeContext) -> Outcome:
        spec = ctx.settings.get("callable")
        if ctx.cancel.is_set():
            return Outcome.fail("cancelled")
        _write(ctx.log, f"[maestro] python {spec}\n")
        with redirect_thread_output(ctx.log):
            try:
                func = resolve_callable(spec, ctx.project_dir)
                kwargs = _call_kwargs(func, ctx)
            except _CallableError as exc:
                return Outcome.fail(str(exc), permanent=True)
            except Exception as exc:  # the module raised while being imported
                return _exception_failure(exc, ctx.log)
            try:
                result = func(**kwargs)
            except (Exception, SystemExit) as exc:
                return _exception_failure(exc, ctx.log)
        return _outcome(result, ctx.output_path)


# -- finding the callable --------------------------------------------------------------------

_path_lock = threading.Lock()


def resolve_callable(spec: Any, project_dir: Path) -> Callable[..., Any]:
    """Import ``"package.module:attr.path"`` with ``project_dir`` importable."""
    if not isinstance(spec, str) or spec.count(":") != 1:
        raise _CallableError(f"python.callable must be 'package.module:function', got {spec!r}")
    module_name, _, attr_path = spec.partition(":")
    if not module_name or not attr_path:
        raise _CallableError(f"python.callable must be 'package.module:function', got {spec!r}")
    _ensure_on_path(project_dir)
    obj: Any = _import(module_name)
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise _CallableError(f"{module_name!r} has no attribute {attr_path!r}") from None
    if not callable(obj):
        raise _CallableError(f"{spec} is not callable (it is a {type(obj).__name__})")
    return cast(Callable[..., Any], obj)


def _ensure_on_path(project_dir: Path) -> None:
    entry = str(project_dir.resolve())
    with _path_lock:
        if entry not in sys.path:
            sys.path.insert(0, entry)


def _import(module_name: str) -> Any:
    """Import a module; import and syntax errors are permanent, other errors propagate."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError:
        importlib.invalidate_caches()  # the module may have appeared since the last look
    except (ImportError, SyntaxError) as exc:
        raise _CallableError(f"cannot import {module_name!r}: {exc}") from exc
    try:
        return importlib.import_module(module_name)
    except (ImportError, SyntaxError) as exc:
        raise _CallableError(f"cannot import {module_name!r}: {exc}") from exc


def _call_kwargs(func: Callable[..., Any], ctx: RuntimeContext) -> dict[str, Any]:
    """The rendered kwargs, plus ``maestro_context`` when the callable asks for it."""
    raw = ctx.settings.get("kwargs") or {}
    if not isinstance(raw, Mapping) or not all(isinstance(key, str) for key in raw):
        raise _CallableError(f"python.kwargs must be a map of names to values, got {raw!r}")
    kwargs = dict(raw)
    signature = _signature(func)
    if signature is None:
        return kwargs
    if CONTEXT_KWARG in kwargs:
        raise _CallableError(f"python.kwargs may not set {CONTEXT_KWARG!r}: it is reserved")
    if _takes_context(signature):
        kwargs[CONTEXT_KWARG] = _context_dict(ctx)
    try:
        signature.bind(**kwargs)
    except TypeError as exc:
        spec = ctx.settings.get("callable")
        raise _CallableError(f"cannot call {spec} with these kwargs: {exc}") from None
    return kwargs


def _signature(func: Callable[..., Any]) -> inspect.Signature | None:
    try:
        return inspect.signature(func)
    except (TypeError, ValueError):  # some builtins have no signature
        return None


def _takes_context(signature: inspect.Signature) -> bool:
    param = signature.parameters.get(CONTEXT_KWARG)
    keyword_kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return param is not None and param.kind in keyword_kinds


def _context_dict(ctx: RuntimeContext) -> dict[str, Any]:
    return {
        "run_id": ctx.run_id,
        "step_id": ctx.step_id,
        "attempt": ctx.attempt_number,
        "env": dict(ctx.env),
        "output_path": str(ctx.output_path),
    }


# -- results ---------------------------------------------------------------------------------


def _outcome(result: Any, output_path: Path) -> Outcome:
    try:
        outputs = read_outputs(output_path)
    except OutputError as exc:
        return Outcome.fail(f"invalid $MAESTRO_OUTPUT: {exc}")
    if isinstance(result, dict):
        outputs.update(result)
    elif result is not None:
        outputs["result"] = result
    try:
        return Outcome.ok(_as_json(outputs))
    except (TypeError, ValueError) as exc:
        return Outcome.fail(f"the callable's outputs are not JSON-serializable: {exc}")


def _as_json(outputs: dict[str, Any]) -> dict[str, Any]:
    normalised: dict[str, Any] = json.loads(json.dumps(outputs, allow_nan=False))
    return normalised


def _exception_failure(exc: BaseException, log: BinaryIO) -> Outcome:
    tb = exc.__traceback__.tb_next if exc.__traceback__ else None  # skip this module's frame
    _write(log, "".join(traceback.format_exception(type(exc), exc, tb)))
    return Outcome.fail(traceback.format_exception_only(type(exc), exc)[-1].strip())


def _write(log: BinaryIO, text: str) -> None:
    log.write(text.encode("utf-8", "backslashreplace"))
    log.flush()


# -- per-thread stdout/stderr redirect -------------------------------------------------------

_targets = threading.local()
_install_lock = threading.Lock()


class _LogText:
    """A minimal text stream writing UTF-8 to the attempt log (never closes it)."""

    encoding = "utf-8"
    errors = "backslashreplace"

    def __init__(self, log: BinaryIO) -> None:
        self._log = log

    def write(self, text: str) -> int:
        self._log.write(text.encode(self.encoding, self.errors))
        if "\n" in text:
            self._log.flush()
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._log.flush()

    def fileno(self) -> int:
        return self._log.fileno()

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True


class _ThreadRoutedStream:
    """Installed as sys.stdout/sys.stderr: writes go to the thread's target, else to fallback."""

    def __init__(self, fallback: TextIO | None) -> None:
        self._fallback = fallback

    def _current(self) -> Any:
        target = getattr(_targets, "stream", None)
        return target if target is not None else self._fallback

    def write(self, text: str) -> int:
        current = self._current()
        return len(text) if current is None else int(current.write(text))

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        current = self._current()
        if current is not None:
            current.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._current(), name)


def _install() -> None:
    """Make sys.stdout/sys.stderr routing proxies (again, if someone replaced them since)."""
    with _install_lock:
        for name in ("stdout", "stderr"):
            current = getattr(sys, name)
            if not isinstance(current, _ThreadRoutedStream):
                setattr(sys, name, _ThreadRoutedStream(current))


@contextmanager
def redirect_thread_output(log: BinaryIO) -> Iterator[None]:
    """Send this thread's sys.stdout/sys.stderr writes to ``log`` for the block's duration."""
    _install()
    previous = getattr(_targets, "stream", None)
    _targets.stream = _LogText(log)
    try:
        yield
    finally:
        _targets.stream = previous
        log.flush()
