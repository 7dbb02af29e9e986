"""The python channel: ``package.module:function`` called with the payload (a plain dict);
returning is a delivery. The module is imported with the project folder first on
``sys.path``, as a python step's would be. A function that cannot be found is permanent;
one that raises failed this try.

The call runs in a thread of its own and is waited for ``timeout`` seconds: a function that
hangs must not stop the sender (every other alert waits behind it). Python cannot stop the
thread, so it is left to finish in the background; the alert is tried again later, and the
function may see it twice (its ``id`` tells).
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast

from maestro.alerts.errors import DeliveryError

_PATH_LOCK = threading.Lock()
#: what a message quotes of a function's exception
_MAX_MESSAGE = 500


def call(
    settings: Mapping[str, Any],
    payload: Mapping[str, Any],
    project_dir: Path | None,
    timeout: float,
) -> None:
    target = str(settings.get("callable", ""))
    try:
        function = _load(target, project_dir)
    except (Exception, SystemExit) as exc:  # ImportError, AttributeError, the module's failure
        raise DeliveryError(
            f"python: cannot load {target}: {_named(exc)}"[:_MAX_MESSAGE], permanent=True
        ) from None
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            function(dict(payload))
        except (Exception, SystemExit) as exc:  # SystemExit would end the thread silently
            outcome.append(exc)
        else:
            outcome.append(None)

    thread = threading.Thread(target=run, name=f"alert-{target}", daemon=True)
    thread.start()
    thread.join(timeout)
    if not outcome:
        raise DeliveryError(f"python: {target} did not return within {timeout:g} s")
    if outcome[0] is not None:
        raise DeliveryError(f"python: {target} raised {_named(outcome[0])}"[:_MAX_MESSAGE])


def _named(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _load(target: str, project_dir: Path | None) -> Callable[[dict[str, Any]], Any]:
    module_name, _, attribute = target.partition(":")
    with _PATH_LOCK:
        folder = str(project_dir.resolve()) if project_dir is not None else None
        added = folder is not None and folder not in sys.path
        if folder is not None and added:
            sys.path.insert(0, folder)
        try:
            found: Any = importlib.import_module(module_name)
        finally:
            if folder is not None and added:
                sys.path.remove(folder)
    for part in attribute.split("."):
        found = getattr(found, part)
    if not callable(found):
        raise TypeError(f"{target} is not callable")
    return cast("Callable[[dict[str, Any]], Any]", found)
