"""The ``maestro`` command: the composition root that wires settings, store, engine, workers
and the API. Only this package imports all of them (an import-linter contract).

Each module registers its commands on the shared typer app when imported.
"""

from __future__ import annotations

import sys

from pydantic import ValidationError

from maestro.cli import (  # noqa: F401  # registers their commands
    client,
    client_alerts,
    client_runs,
    client_signals,
    distributed,
    import_maestro,
    local,
    logs,
    prune,
    server,
)
from maestro.cli.common import app, err, open_store
from maestro.cli.local import Embedded, embedded
from maestro.errors import MaestroError
from maestro.settings import Settings

__all__ = ["Embedded", "app", "embedded", "main", "open_store"]


def main() -> None:
    """Entry point of the ``maestro`` script."""
    try:
        app()
    except MaestroError as exc:  # a domain error that escaped a command: still no traceback
        err.print(f"[red]error:[/red] {exc.message}")
        sys.exit(2)
    except ValidationError as exc:
        if exc.title != Settings.__name__:
            raise
        for line in settings_problems(exc):  # MAESTRO_* in the environment, not a bug
            err.print(f"[red]error:[/red] {line}", highlight=False)
        sys.exit(2)


def settings_problems(exc: ValidationError) -> list[str]:
    """Each bad setting as the environment variable that set it: ``MAESTRO_WORKER_CONCURRENCY:
    Input should be a valid integer, got 'abc'``."""
    return [
        f"MAESTRO_{str(e['loc'][0]).upper() if e['loc'] else '*'}: {e['msg']}"
        + (f", got {e['input']!r}" if isinstance(e.get("input"), str | int | float) else "")
        for e in exc.errors()
    ]
