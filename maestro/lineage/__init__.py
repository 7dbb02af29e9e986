"""OpenLineage run events of runs and steps (docs/observability.md, "Lineage").

Off unless ``OPENLINEAGE_URL`` is set, an ``openlineage.yml`` is found where the OpenLineage
client looks for one (``OPENLINEAGE_CONFIG``, ``./openlineage.yml``,
``~/.openlineage/openlineage.yml``) or ``MAESTRO_OPENLINEAGE=1``; ``MAESTRO_OPENLINEAGE=0`` or
``OPENLINEAGE_DISABLED=true`` turn it off whatever else is set. This package imports neither
the OpenLineage client nor sqlglot: they are loaded by name (``maestro.lineage.client``) the
first time an engine asks for the process's sink with lineage on, so a process without lineage
never imports them, and a unit of work pays one ``is None`` test.

The engine derives records from the status changes of each unit of work it commits
(``maestro.engine.lineage``) and hands them to the sink (``LineageSink.emit``) after commit.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from maestro.lazy_sink import LazySink, switch
from maestro.lineage.records import LineageRecord

logger = logging.getLogger(__name__)

SWITCH = "MAESTRO_OPENLINEAGE"


class LineageSink(Protocol):
    """Where run events go (``maestro.lineage.client.OpenLineageSink``: the client's
    transport, configured the OpenLineage way)."""

    def emit(self, records: Sequence[LineageRecord]) -> None:
        """Send the events of ``records``; never raises."""


def enabled(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> bool:
    """Whether lineage is on in this environment."""
    env = os.environ if environ is None else environ
    on = switch(env, SWITCH)
    if on is False or env.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true":
        return False
    if on is True or env.get("OPENLINEAGE_URL", "").strip():
        return True
    return config_file(env, cwd) is not None


def config_file(environ: Mapping[str, str], cwd: Path | None = None) -> Path | None:
    """The ``openlineage.yml`` the OpenLineage client would read, in its order."""
    named = environ.get("OPENLINEAGE_CONFIG", "").strip()
    home = environ.get("HOME")
    candidates = [
        Path(named) if named else None,
        (cwd or Path.cwd()) / "openlineage.yml",
        (Path(home) if home else Path.home()) / ".openlineage" / "openlineage.yml",
    ]
    return next((p for p in candidates if p is not None and p.is_file()), None)


#: the OpenLineage client side (``maestro.lineage.client``), loaded by name when lineage is on
_sink: LazySink[LineageSink] = LazySink(
    "maestro.lineage.client",
    logger,
    f"lineage is on ({SWITCH}, OPENLINEAGE_URL or an openlineage.yml) but the OpenLineage "
    "client is not installed (%s): install 'maestro-py[observability]'; running without "
    "lineage",
)


def sink() -> LineageSink | None:
    """The process's sink when lineage is on (made once), else None. On without the
    ``observability`` extra installed: a warning, and None."""
    return _sink.get() if enabled() else None


def flush(timeout_seconds: float = 5.0) -> None:
    """Send what the process's sink still holds (a prefork worker's child about to end)."""
    closer = getattr(_sink.made(), "flush", None)
    if closer is not None:
        closer(timeout_seconds)
