"""The engine's run and step actions, looked up when called.

``maestro.engine.actions`` (stop, kill, pause, resume, restart, retry, skip) is written
alongside this API; until a function exists there, the route that needs it answers 501
naming it instead of failing at import time.
"""

from __future__ import annotations

import importlib
from typing import Any

from api.errors import NotImplementedYet


def engine_action(name: str, purpose: str) -> Any:
    """``maestro.engine.actions.<name>``, or 501 saying that ``purpose`` needs it."""
    try:
        module = importlib.import_module("maestro.engine.actions")
    except ImportError:
        module = None
    action = getattr(module, name, None)
    if action is None:
        raise NotImplementedYet(
            f"{purpose}, and this engine has no such action yet "
            f"(maestro.engine.actions.{name} is missing)"
        )
    return action
