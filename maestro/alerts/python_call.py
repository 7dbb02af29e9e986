"""The python channel: ``package.module:function`` called with the payload (a plain dict);
returning is a delivery. The module is imported with the project folder first on
``sys.path``, as a python step's would be. A function that cannot be found is permanent;
one that raises failed this try."""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from maestro.alerts.errors import DeliveryError

_PATH_LOCK = threading.Lock()


def call(settings: Mapping[str, Any], payload: Mapping[str, Any], project_dir: Path | None) -> None:
    target = str(settings.get("callable", ""))
    try:
        function = _load(target, project_dir)
    except Exception as exc:  # ImportError, AttributeError, or the module's own failure
        raise DeliveryError(
            f"python: cannot load {target}: {type(exc).__name__}: {exc}"[:500], permanent=True
        ) from None
    try:
        function(dict(payload))
    except Exception as exc:
        raise DeliveryError(f"python: {target} raised {type(exc).__name__}: {exc}"[:500]) from None


def _load(target: str, project_dir: Path | None) -> Callable[[dict[str, Any]], Any]:
    module_name, _, attribute = target.partition(":")
    with _PATH_LOCK:
        folder = str(project_dir.resolve()) if project_dir is not None else None
        added = folder is not None and folder not in sys.path
        if added:
            sys.path.insert(0, str(folder))
        try:
            found: Any = importlib.import_module(module_name)
        finally:
            if added:
                sys.path.remove(str(folder))
    for part in attribute.split("."):
        found = getattr(found, part)
    if not callable(found):
        raise TypeError(f"{target} is not callable")
    return found  # type: ignore[no-any-return]
