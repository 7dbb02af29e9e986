"""The ``maestro`` command: the composition root that wires settings, store, engine, workers
and the API. Only this package imports all of them (an import-linter contract).

Each module registers its commands on the shared typer app when imported.
"""

from __future__ import annotations

import sys

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

__all__ = ["Embedded", "app", "embedded", "main", "open_store"]


def main() -> None:
    """Entry point of the ``maestro`` script."""
    try:
        app()
    except MaestroError as exc:  # a domain error that escaped a command: still no traceback
        err.print(f"[red]error:[/red] {exc.message}")
        sys.exit(2)
