"""Writing a unit's buffered event rows: one statement, whatever their number.

SQLite takes the rows as one ``executemany`` (in-process, no round trips). On PostgreSQL an
``executemany`` goes through SQLAlchemy's execution (its batching of many-row INSERTs, the
one slow path left in a run start); there the rows go as one array per column, unnested in
one ``INSERT … SELECT`` run on the driver's cursor (``maestro.store.direct``). The rows are
inserted, and their ids given, in the order of the list.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, Connection, String, Text, bindparam, func, insert, select
from sqlalchemy.dialects.postgresql import ARRAY

from maestro.store import direct, tables
from maestro.store.types import UTCDateTime

E = tables.events

#: every column an event row has (``Unit`` fills in the ones a caller leaves out)
COLUMNS = (
    "run_id",
    "step_run_id",
    "attempt_id",
    "backfill_id",
    "workflow_id",
    "entity",
    "from_status",
    "to_status",
    "action",
    "actor",
    "message",
    "at",
)
_ARRAY_TYPES: dict[str, Any] = {
    "run_id": BigInteger,
    "step_run_id": BigInteger,
    "attempt_id": BigInteger,
    "backfill_id": BigInteger,
    "workflow_id": String,
    "entity": String,
    "from_status": String,
    "to_status": String,
    "action": String,
    "actor": String,
    "message": Text,
    "at": UTCDateTime,
}

#: PostgreSQL: the rows of ``unnested_params``, one array per column, as rows (in COLUMNS'
#: order) — for an ``INSERT … SELECT`` of their own or as the first part of a larger one (its
#: parameters are named ``p_event_…``: apart from that one's)
UNNESTED = select(
    func.unnest(*(bindparam(f"p_event_{c}", type_=ARRAY(_ARRAY_TYPES[c])) for c in COLUMNS))
    .table_valued(*COLUMNS)
    .render_derived(name="e")
)
_INSERT = insert(E)
_INSERT_UNNESTED = insert(E).from_select(list(COLUMNS), UNNESTED)


def unnested_params(rows: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    """The parameters of ``UNNESTED`` for ``rows`` (each with every key of ``COLUMNS``)."""
    return {f"p_event_{c}": [r[c] for r in rows] for c in COLUMNS}


def insert_events(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (each with every key of ``COLUMNS``) in their order."""
    if not rows:
        return
    if len(rows) == 1 or conn.dialect.name != "postgresql":
        direct.execute(conn, _INSERT, list(rows) if len(rows) > 1 else rows[0])
        return
    direct.execute(conn, _INSERT_UNNESTED, unnested_params(rows))
