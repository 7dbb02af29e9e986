"""The tables a sql step reads and writes, read from its statement by sqlglot (never guessed
from the text): an INSERT … SELECT, CREATE TABLE … AS SELECT, MERGE or plain SELECT reads the
tables of its sources and writes its target. Common table expressions are not tables; anything
else (DDL, UPDATE, several unrelated statements that fail to parse) yields what it can and
never raises. Loaded with the OpenLineage client, only when lineage is on."""

from __future__ import annotations

import logging

import sqlglot
from sqlglot import exp

from maestro.lineage.records import DatasetName, SqlSource

logger = logging.getLogger(__name__)


def tables(source: SqlSource) -> tuple[list[DatasetName], list[DatasetName]]:
    """(inputs, outputs) of every statement of ``source``, each listed once, in order."""
    inputs: list[DatasetName] = []
    outputs: list[DatasetName] = []
    try:
        statements = sqlglot.parse(source.sql, read=source.dialect)
    except sqlglot.errors.SqlglotError as exc:
        logger.debug("lineage: cannot parse the statement (%s)", exc)
        return [], []
    for statement in statements:
        if statement is None:
            continue
        read, written = _statement(statement)
        for table in read:
            _add(inputs, _name(table, source))
        for table in written:
            _add(outputs, _name(table, source))
    return inputs, outputs


def _statement(statement: exp.Expr) -> tuple[list[exp.Table], list[exp.Table]]:
    target: exp.Table | None = None
    if isinstance(statement, exp.Insert | exp.Create | exp.Merge):
        this = statement.this
        if isinstance(this, exp.Schema):  # INSERT INTO t (a, b) / CREATE TABLE t (…)
            this = this.this
        if isinstance(this, exp.Table):
            target = this
        if isinstance(statement, exp.Create) and statement.expression is None:
            return [], []  # plain DDL: no data moves
    elif not isinstance(statement, exp.Query):
        return [], []
    ctes = {cte.alias_or_name for cte in statement.find_all(exp.CTE)}
    sources = [
        table
        for table in statement.find_all(exp.Table)
        if table is not target and table.name and table.name not in ctes
    ]
    return sources, [target] if target is not None else []


def _name(table: exp.Table, source: SqlSource) -> DatasetName:
    parts = [table.catalog or source.database, table.db or source.schema, table.name]
    return DatasetName(source.namespace, ".".join(p for p in parts if p))


def _add(found: list[DatasetName], name: DatasetName) -> None:
    if name not in found:
        found.append(name)
