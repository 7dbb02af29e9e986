"""The hot path's statements, run on the driver's cursor (sqlite3's or psycopg's) directly.

A no-op step of the embedded mode was a few milliseconds of Python, and more than half of it
was SQLAlchemy executing statements that were already compiled: the cache key of each
statement, the execution context, the parameter lists, the result's metadata — 13 µs for an
``UPDATE`` that ``sqlite3`` runs in 0.7 µs; on psycopg, building ``cursor.description`` for
the hot path's 40-column ``RETURNING`` statements was a fifth of a worker's time.
``execute`` keeps SQLAlchemy for what it is good at (building and compiling the statement,
the column types' conversions, its error classes, the invalidation of a connection the server
dropped, and its ``before_cursor_execute`` event, which the statement-count tests listen to)
and skips the rest: a statement built once (a module constant, or cached by its shape) is
compiled once per dialect and then run with ``cursor.execute`` and the types' own bind and
result processors.

Only inside a transaction SQLAlchemy began (``Database.tx``). A statement this module cannot
run the same way (expanding ``IN`` lists, an ``executemany`` with ``RETURNING`` or on
PostgreSQL — SQLAlchemy batches those —, result names that are not identifiers) goes through
``Connection.execute`` unchanged. Never pass a statement built per call: it would be compiled
at every call (a bounded cache keeps that from growing without end).
"""

from __future__ import annotations

import keyword
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, MultipleResultsFound, NoResultFound
from sqlalchemy.sql import Executable

Params = Mapping[str, Any] | Sequence[Mapping[str, Any]] | None
Processor = Callable[[Any], Any] | None


class Rows(Protocol):
    """What callers of ``execute`` use of a result (SQLAlchemy's ``CursorResult`` has it)."""

    @property
    def rowcount(self) -> int: ...

    def scalar(self) -> Any: ...

    def scalar_one(self) -> Any: ...

    def first(self) -> Any: ...

    def one(self) -> Any: ...

    def all(self) -> Sequence[Any]: ...

    def scalars(self) -> Any: ...

    def __iter__(self) -> Iterator[Any]: ...


def _as_mapping(row: Any) -> dict[str, Any]:
    return dict(zip(row._fields, row, strict=True))


def _row_class(fields: tuple[str, ...]) -> type[Any]:
    """A result row: by position, by name (``row.status``) and ``row._mapping``, like
    SQLAlchemy's ``Row``."""
    base = namedtuple("Row", fields)  # type: ignore[misc]
    return type("Row", (base,), {"__slots__": (), "_mapping": property(_as_mapping)})


class DirectResult:
    """The rows of a statement run by ``execute`` (all fetched: SQLite applies a
    ``RETURNING`` statement's changes as its rows are stepped through)."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        return self.one()[0]

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def one(self) -> Any:
        if len(self._rows) != 1:
            if not self._rows:
                raise NoResultFound("No row was found when one was required")
            raise MultipleResultsFound("Multiple rows were found when exactly one was required")
        return self._rows[0]

    def all(self) -> list[Any]:
        return list(self._rows)

    def scalars(self) -> DirectResult:
        """The first column of each row (``.all()``, or iterate)."""
        return DirectResult([r[0] for r in self._rows], self.rowcount)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)


@dataclass(frozen=True, slots=True)
class _Prepared:
    statement: Executable
    sql: str
    defaults: dict[str, Any]
    #: (name, bind processor) in the order of the statement's ``?`` (SQLite), or of ``named``
    binds: tuple[tuple[str, Processor], ...]
    row: type[Any] | None
    results: tuple[Processor, ...]
    #: PostgreSQL (``%(name)s``): the names the driver gets, in the order of ``binds``
    named: tuple[str, ...] | None = None


#: (id of the statement, dialect, keys of the parameters) → its prepared form; the statement
#: is kept in the entry, so an id cannot be reused while the entry lives
_PREPARED: dict[tuple[int, str, tuple[str, ...]], _Prepared | None] = {}
_MAX_PREPARED = 2048
#: statements ``execute`` could not prepare and handed to SQLAlchemy (at most once per
#: statement and dialect): a hot path's statement here has lost its speed (the tests say so)
unprepared: list[tuple[str, Executable]] = []


def execute(conn: Connection, statement: Executable, params: Params = None) -> Rows:
    """Run ``statement`` (built once: a constant, or cached by shape) with ``params`` (one
    mapping, or a list of them for an ``executemany``) in ``conn``'s transaction."""
    dialect = conn.dialect
    many = isinstance(params, list)
    if (
        dialect.driver not in _DIRECT
        or (many and dialect.name != "sqlite")
        or params == []
        or not conn.in_transaction()
    ):
        return conn.execute(statement, params)
    rows_params: Sequence[Mapping[str, Any]] = (
        params if isinstance(params, list) else [params or {}]  # type: ignore[list-item]
    )
    keys = tuple(sorted(rows_params[0]))  # what an INSERT or UPDATE without values() sets
    prepared = _prepared(dialect, statement, keys)
    if prepared is None or (many and prepared.row is not None):
        return conn.execute(statement, params)
    values = [_bind(prepared, p) for p in rows_params]
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    parameters: Any = values if many else values[0]
    for listener in conn.dispatch.before_cursor_execute:
        listener(conn, cursor, prepared.sql, parameters, None, many)
    try:
        if many:
            cursor.executemany(prepared.sql, values)
            return DirectResult([], cursor.rowcount)
        cursor.execute(prepared.sql, parameters)
        if prepared.row is None:
            return DirectResult([], cursor.rowcount)
        fetched = cursor.fetchall()
        rowcount = cursor.rowcount if cursor.rowcount >= 0 else len(fetched)
        return DirectResult([_convert(prepared, r) for r in fetched], rowcount)
    except dialect.loaded_dbapi.Error as exc:
        raise _error(conn, cursor, prepared.sql, parameters, exc) from exc
    finally:
        cursor.close()


#: the drivers ``execute`` runs against (another driver of a dialect keeps SQLAlchemy's path)
_DIRECT = frozenset({"pysqlite", "psycopg"})


def _error(conn: Connection, cursor: Any, sql: str, parameters: Any, exc: Exception) -> Exception:
    """The driver's error as SQLAlchemy raises it; a connection lost with it is invalidated
    (the pool opens a new one for the retried unit), as SQLAlchemy does."""
    dialect = conn.dialect
    lost = dialect.is_disconnect(exc, conn.connection.dbapi_connection, cursor)  # type: ignore[arg-type]
    if lost:
        conn.invalidate(exc)
    return DBAPIError.instance(
        sql,
        parameters,
        exc,
        dialect.loaded_dbapi.Error,
        connection_invalidated=lost,
        dialect=dialect,
    )


def driver_sql(conn: Connection, sql: str) -> None:
    """Run a plain SQL string without parameters (``BEGIN IMMEDIATE``) on ``conn``'s driver
    connection, seen by ``before_cursor_execute`` listeners like any other statement."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    for listener in conn.dispatch.before_cursor_execute:
        listener(conn, cursor, sql, (), None, False)
    try:
        cursor.execute(sql)
    except conn.dialect.loaded_dbapi.Error as exc:
        raise _error(conn, cursor, sql, (), exc) from exc
    finally:
        cursor.close()


def _bind(prepared: _Prepared, params: Mapping[str, Any]) -> list[Any] | dict[str, Any]:
    if prepared.defaults:
        params = {**prepared.defaults, **params}
    values = [
        value if process is None or value is None else process(value)
        for name, process in prepared.binds
        for value in (params[name],)
    ]
    if prepared.named is None:
        return values
    return dict(zip(prepared.named, values, strict=True))


def _convert(prepared: _Prepared, raw: Sequence[Any]) -> Any:
    assert prepared.row is not None
    return tuple.__new__(
        prepared.row,
        [
            value if process is None or value is None else process(value)
            for value, process in zip(raw, prepared.results, strict=True)
        ],
    )


#: (dialect, type) → the type's bind processor, one for every statement binding the type
_DATETIME_PROCESSORS: dict[tuple[str, str], Processor] = {}


def _datetime_processor(dialect: Dialect, type_: Any) -> Processor:
    """A datetime type's bind processor, shared by all statements (``_same_value_once``): a
    unit binds its one ``now`` in most of its statements."""
    key = (dialect.name, repr(type_))
    if key not in _DATETIME_PROCESSORS:
        process = type_.dialect_impl(dialect).bind_processor(dialect)
        _DATETIME_PROCESSORS[key] = None if process is None else _same_value_once(process)
    return _DATETIME_PROCESSORS[key]


def _same_value_once(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``process``, remembering its last value: a unit writes its one ``now`` into many rows
    and columns, and formatting a datetime for SQLite was 5 % of a no-op step. (The pair is
    one object, read and replaced whole: threads sharing it never see a mixed one.)"""
    last: list[tuple[Any, Any]] = [(object(), None)]

    def run(value: Any) -> Any:
        seen, out = last[0]
        if value is seen:
            return out
        out = process(value)
        last[0] = (value, out)
        return out

    return run


def _prepared(dialect: Dialect, statement: Executable, keys: tuple[str, ...]) -> _Prepared | None:
    key = (id(statement), dialect.name, keys)
    if key in _PREPARED:
        entry = _PREPARED[key]
        if entry is None or entry.statement is statement:
            return entry
    if len(_PREPARED) >= _MAX_PREPARED:  # statements built per call were passed: start over
        _PREPARED.clear()
    made = _prepare(dialect, statement, keys)
    _PREPARED[key] = made
    if made is None and len(unprepared) < 100:
        unprepared.append((dialect.name, statement))
    return made


def _prepare(dialect: Dialect, statement: Executable, keys: tuple[str, ...]) -> _Prepared | None:
    compiled: Any = statement.compile(dialect=dialect, column_keys=list(keys) or None)  # type: ignore[attr-defined]
    sql: str = compiled.string
    if "POSTCOMPILE" in sql:
        return None
    named: tuple[str, ...] | None = None
    if compiled.positiontup is not None:  # sqlite3: ``?`` in this order
        names = tuple(compiled.positiontup)
    elif dialect.paramstyle == "pyformat":  # psycopg: ``%(name)s``
        escaped = compiled.escaped_bind_names
        pairs = [
            (name, escaped.get(name, name))
            for name in compiled.binds
            if f"%({escaped.get(name, name)})s" in sql
        ]
        names, named = tuple(n for n, _ in pairs), tuple(e for _, e in pairs)
    else:
        return None
    defaults: dict[str, Any] = {}
    for column in (*compiled.insert_prefetch, *compiled.update_prefetch):
        # a column's Python-side default (``default=0``): a constant, or not run here
        generated = column.default if column in compiled.insert_prefetch else column.onupdate
        if generated is None or not generated.is_scalar:
            return None
        defaults[column.key] = generated.arg
    binds: list[tuple[str, Processor]] = []
    for name in names:
        bind = compiled.binds[name]
        if bind.callable is not None or bind.expanding:
            return None
        if not bind.required and name not in defaults:
            defaults[name] = bind.value
        if isinstance(getattr(bind.type, "impl", bind.type), DateTime):
            process = _datetime_processor(dialect, bind.type)
        else:
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        binds.append((name, process))
    columns = compiled._result_columns
    if not columns:
        return _Prepared(statement, sql, defaults, tuple(binds), None, (), named)
    fields = tuple(c.keyname for c in columns)
    if len(set(fields)) != len(fields) or not all(
        f.isidentifier() and not keyword.iskeyword(f) and not f.startswith("_") for f in fields
    ):
        return None
    row = _row_class(fields)
    results = tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns)
    return _Prepared(statement, sql, defaults, tuple(binds), row, results, named)
