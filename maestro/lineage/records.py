"""Run events as plain records, and the run ids that tie them together across processes.

A run or a step may start in one process and end in another, so every id is derived from the
row it stands for (its id and its run's creation time, so that two stores that both have a run
1 make different ids): whoever records an end computes the START's id. Nothing here imports
the OpenLineage client or sqlglot.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from maestro import __version__

#: the ``producer`` of every event: this project, at its version
PRODUCER = f"https://pypi.org/project/maestro-py/{__version__}/"
#: the namespace of Maestro's run ids (uuid5 under it; never changes with the version)
RUN_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://pypi.org/project/maestro-py/")


class EventType(StrEnum):
    """OpenLineage's run states that Maestro emits."""

    START = "START"
    COMPLETE = "COMPLETE"
    FAIL = "FAIL"
    ABORT = "ABORT"


@dataclass(frozen=True)
class DatasetName:
    namespace: str
    name: str


@dataclass(frozen=True)
class SqlSource:
    """A sql step's statements, for the sink to read tables from (``maestro.lineage.sql``)."""

    sql: str
    #: sqlglot's dialect name (``postgres``, ``duckdb``, ``trino``, ``sqlite``…)
    dialect: str
    #: the datasets' namespace: the connection's scheme, host and port (never its secrets)
    namespace: str
    #: the connection's database and default schema, to qualify bare table names
    database: str | None = None
    schema: str | None = None


@dataclass(frozen=True)
class JobRun:
    """A job and one run of it: what a parent facet names."""

    job: str
    run_id: uuid.UUID


@dataclass(frozen=True)
class LineageRecord:
    """One run event: everything a transport needs, made from committed rows."""

    event_type: EventType
    event_time: datetime
    job: str
    run_id: uuid.UUID
    #: ``run`` or ``step``
    kind: str
    parent: JobRun | None = None
    inputs: tuple[DatasetName, ...] = ()
    outputs: tuple[DatasetName, ...] = ()
    #: a sql step that declares no datasets: the sink reads its tables
    sql: SqlSource | None = None
    error: str | None = None
    #: what the event says of the row (``maestro`` run facet)
    attributes: dict[str, str | int] = field(default_factory=dict)


def run_uuid(kind: str, row_id: int, run_created_at: datetime) -> uuid.UUID:
    """The OpenLineage run id of a run (``kind`` ``run``) or step run (``step``)."""
    instant = run_created_at.astimezone(UTC).isoformat(timespec="microseconds")
    return uuid.uuid5(RUN_ID_NAMESPACE, f"maestro:{kind}:{row_id}:{instant}")
