"""Engine functions the API calls that are written alongside it (run and step actions,
signals, backfills), looked up when called.

Until a function exists, the route that needs it answers 501 naming it, instead of the
whole API failing at import time.
"""

from __future__ import annotations

import importlib
from typing import Any

from api.errors import NotImplementedYet


def engine_function(module: str, name: str, purpose: str) -> Any:
    """``maestro.engine.<module>.<name>``, or 501 saying that ``purpose`` is not supported."""
    try:
        found = importlib.import_module(f"maestro.engine.{module}")
    except ImportError:
        found = None
    function = getattr(found, name, None)
    if function is None:
        raise NotImplementedYet(
            f"{purpose} is not supported yet: this engine has no maestro.engine.{module}.{name}"
        )
    return function


def engine_action(name: str, purpose: str) -> Any:
    """A run or step action of ``maestro.engine.actions``."""
    return engine_function("actions", name, purpose)
