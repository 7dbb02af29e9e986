"""The ``sql`` step type: SQL on a named connection, through SQLAlchemy.

``sql: {connection, query | file, parameters, fetch: 100}``.

* ``connection`` is a name resolved by ``connections.py`` (``MAESTRO_CONN_<NAME>``, the
  connections file, ``.maestro/connections.yaml`` in the project folder) to a SQLAlchemy URL:
  Trino or Presto (``trino://user@host:8080/catalog/schema``, the ``trino`` package's dialect),
  PostgreSQL (``postgresql+psycopg://``), DuckDB (``duckdb:///path.duckdb``, duckdb-engine) or
  any installed dialect. A missing dialect or driver is a permanent failure naming the extra to
  install (``pip install 'maestro-py[sql]'``). An engine is created per attempt, without a pool,
  and disposed of at its end.
* ``query`` is the SQL (already rendered by the engine); ``file`` a file holding it, relative to
  the project folder (read as is: not templated — pass values through ``parameters``).
* Several statements separated by ``;`` run in order, in one transaction
  (``engine.begin()``): all are committed when the last succeeds, none when one fails or the
  step is stopped — where the database has transactions (Trino runs each statement on its own,
  in autocommit). The splitter knows quotes (``'…'``, ``"…"``, backticks), PostgreSQL's
  dollar quotes (``$$…$$``) and comments, so a ``;`` inside them does not split; empty
  statements are dropped.
* ``parameters``: ``:name`` in a statement is bound to ``parameters.name`` (by the driver, never
  pasted into the SQL). A ``:name`` with no such parameter, and anything inside quotes or
  comments, is left as written (``'10:30'``, PostgreSQL's ``x::int``).
* Outputs: ``rowcount`` of the last statement (rows affected, or rows returned by a query;
  ``-1`` when the driver cannot tell, e.g. for DDL), and ``rows``: the first ``fetch`` rows of
  the last statement that returned rows, as a list of maps, made JSON-safe (dates and times →
  ISO strings, decimals → int or float, or a string when a float would lose digits, bytes →
  hex). A query's result is read to its end so that its ``rowcount`` is exact.
* The query id is recorded on the attempt as soon as it is known: Trino's query id (the running
  cursor's ``query_id``), PostgreSQL's backend pid (``pid:<n>``); DuckDB has none.
* Stop or timeout: a watcher thread cancels the running statement — Trino: ``cursor.cancel()``
  (the client sends DELETE to the query's ``nextUri``); PostgreSQL: ``connection.cancel_safe()``
  (psycopg 3; ``cancel()`` with psycopg2); DuckDB: ``interrupt()``; other drivers: their
  connection's ``cancel()`` or ``interrupt()`` if they have one. The transaction is rolled back
  and the attempt ends cancelled.
* Errors fail the attempt (retried per ``retries``) with the driver's message and the failing
  statement's number; the URL, its password and secret query values never appear in logs,
  errors or outputs (they are scrubbed from driver messages too).
"""

from __future__ import annotations

import math
import re
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import CursorResult, Engine
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.elements import TextClause

from maestro.connections import (
    ConnectionLookupError,
    NamedConnection,
    parse,
    resolve,
    scrub,
)
from workers.runtimes.base import Outcome, RuntimeContext
from workers.runtimes.fencing import fence_query
from workers.runtimes.submit import write_log

SQL_EXTRA = "pip install 'maestro-py[sql]'"
_POLL = 0.02
_FETCH_CHUNK = 1000
_CANCEL_TIMEOUT = 10.0
_RECANCEL = 1.0
#: SQLAlchemy's own pattern for ``:name`` in text()
_BIND = re.compile(r"(?<![:\w\\]):(\w+)(?!:)")
_DOLLAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")


class _SettingsError(ValueError):
    """The step cannot work as configured (a permanent failure)."""


class _Cancelled(Exception):
    """The step was stopped between or during statements."""


@dataclass
class _Job:
    connection: str
    statements: list[str]
    parameters: dict[str, Any]
    fetch: int


class SqlRuntime:
    """Runs the step's statements in one transaction on its named connection."""

    def fence(self, ctx: RuntimeContext, query_id: str) -> None:
        """The previous attempt was lost with query ``query_id`` running: kill it first."""
        fence_query(ctx, query_id)

    def run(self, ctx: RuntimeContext) -> Outcome:
        try:
            job = _read_settings(ctx.settings, ctx.project_dir)
            conn = resolve(
                job.connection,
                connections_file=ctx.connections_file,
                project_dir=ctx.project_dir,
            )
            engine = _create_engine(conn)
        except (_SettingsError, ConnectionLookupError) as exc:
            return Outcome.fail(str(exc), permanent=True)
        if ctx.cancel.is_set():
            engine.dispose()
            return Outcome.fail("cancelled")
        count = len(job.statements)
        write_log(
            ctx.log,
            f"[maestro] sql on {conn.name!r} ({conn.redacted}, from {conn.source}): "
            f"{count} statement(s)\n",
        )
        try:
            return _execute(engine, job, ctx, conn.secrets)
        finally:
            engine.dispose()


# -- settings ----------------------------------------------------------------------------------


def _read_settings(settings: Mapping[str, Any], project_dir: Path) -> _Job:
    name = settings.get("connection")
    if not isinstance(name, str) or not name.strip():
        raise _SettingsError("sql.connection must name a connection")
    sql = _sql_text(settings, project_dir)
    statements = split_statements(sql)
    if not statements:
        raise _SettingsError("the SQL holds no statement")
    parameters = settings.get("parameters") or {}
    if not isinstance(parameters, Mapping):
        raise _SettingsError(f"sql.parameters must be a map, got {type(parameters).__name__}")
    fetch = settings.get("fetch", 100)
    if not isinstance(fetch, int) or isinstance(fetch, bool) or fetch < 0:
        raise _SettingsError(f"sql.fetch must be a number >= 0, got {fetch!r}")
    return _Job(name.strip(), statements, {str(k): v for k, v in parameters.items()}, fetch)


def _sql_text(settings: Mapping[str, Any], project_dir: Path) -> str:
    query, file = settings.get("query"), settings.get("file")
    if (query is None) == (file is None):
        raise _SettingsError("give exactly one of sql.query or sql.file")
    if query is not None:
        return str(query)
    path = Path(str(file))
    path = path if path.is_absolute() else project_dir / path
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _SettingsError(f"SQL file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _SettingsError(f"cannot read SQL file {path}: {exc}") from None


def _create_engine(conn: NamedConnection) -> Engine:
    url = parse(conn.url)
    try:
        return create_engine(url, poolclass=NullPool)
    except NoSuchModuleError:
        raise _SettingsError(
            f"connection {conn.name!r}: no SQLAlchemy dialect for {url.drivername!r} "
            f"is installed ({SQL_EXTRA})"
        ) from None
    except ImportError as exc:
        raise _SettingsError(
            f"connection {conn.name!r}: the {url.drivername!r} driver is not installed "
            f"({exc.name or 'import failed'}; {SQL_EXTRA})"
        ) from None
    except (ArgumentError, TypeError, ValueError) as exc:
        message = scrub(str(exc), conn.secrets)
        raise _SettingsError(f"connection {conn.name!r}: invalid URL: {message}") from None


# -- splitting and binding ---------------------------------------------------------------------


def segments(sql: str) -> Iterator[tuple[str, str]]:
    """``(kind, text)`` pieces of ``sql``: kind is ``code``, ``quoted`` or ``comment``."""
    i, start, n = 0, 0, len(sql)
    while i < n:
        end, kind = _special_end(sql, i)
        if kind is None:
            i += 1
            continue
        if start < i:
            yield "code", sql[start:i]
        yield kind, sql[i:end]
        i = start = end
    if start < n:
        yield "code", sql[start:]


def _special_end(sql: str, i: int) -> tuple[int, str | None]:
    """Where the quote or comment starting at ``i`` ends (unterminated: at the end)."""
    ch, pair = sql[i], sql[i : i + 2]
    if pair == "--":
        end = sql.find("\n", i)
        return (len(sql) if end < 0 else end + 1), "comment"
    if pair == "/*":
        end = sql.find("*/", i + 2)
        return (len(sql) if end < 0 else end + 2), "comment"
    if ch in "'\"`":
        return _quote_end(sql, i, ch), "quoted"
    if ch == "$" and (i == 0 or not (sql[i - 1].isalnum() or sql[i - 1] == "_")):
        match = _DOLLAR.match(sql, i)
        if match:
            end = sql.find(match.group(0), match.end())
            return (len(sql) if end < 0 else end + len(match.group(0))), "quoted"
    return i, None


def _quote_end(sql: str, i: int, quote: str) -> int:
    j = i + 1
    while True:
        j = sql.find(quote, j)
        if j < 0:
            return len(sql)
        if sql[j + 1 : j + 2] == quote:  # a doubled quote is an escaped one
            j += 2
            continue
        return j + 1


def split_statements(sql: str) -> list[str]:
    """The statements of ``sql``, split on ``;`` outside quotes and comments, empty ones dropped."""
    statements: list[str] = []
    current: list[str] = []
    meaningful = False
    for kind, piece in segments(sql):
        if kind != "code":
            current.append(piece)
            meaningful = meaningful or kind == "quoted"
            continue
        parts = piece.split(";")
        for index, part in enumerate(parts):
            if index:
                if meaningful:
                    statements.append("".join(current).strip())
                current, meaningful = [], False
            current.append(part)
            meaningful = meaningful or bool(part.strip())
    if meaningful:
        statements.append("".join(current).strip())
    return statements


def prepare(statement: str, parameters: Mapping[str, Any]) -> tuple[TextClause, list[str]]:
    """A ``text()`` clause binding the ``:name`` s that name parameters; other colons literal."""
    used: list[str] = []
    pieces = [_escape(part, kind == "code", parameters, used) for kind, part in segments(statement)]
    clause = text("".join(pieces))
    if used:
        clause = clause.bindparams(**{name: parameters[name] for name in used})
    return clause, used


def _escape(piece: str, in_code: bool, parameters: Mapping[str, Any], used: list[str]) -> str:
    """``piece`` with every ``:name`` that is not a bound parameter escaped as ``\\:name``."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if in_code and name in parameters:
            if name not in used:
                used.append(name)
            return match.group(0)
        return "\\" + match.group(0)

    return _BIND.sub(one, piece)


# -- running -----------------------------------------------------------------------------------


@dataclass
class _Progress:
    rowcount: int = -1
    rows: list[dict[str, Any]] = field(default_factory=list)
    #: what was being done, for an error message
    where: str = "connecting"


def _execute(engine: Engine, job: _Job, ctx: RuntimeContext, secrets: list[str]) -> Outcome:
    watch = _QueryWatch(ctx, engine.dialect.name, secrets)
    event.listen(engine, "before_cursor_execute", watch.on_cursor)
    progress = _Progress(where=f"cannot connect to {job.connection!r}")
    try:
        with engine.begin() as conn:
            watch.start(conn.connection.dbapi_connection)
            try:
                for index, statement in enumerate(job.statements, start=1):
                    progress.where = f"statement {index} of {len(job.statements)}"
                    _run_statement(conn, statement, job, ctx, watch, progress)
                progress.where = "commit"
            finally:
                watch.stop()
    except _Cancelled:
        write_log(ctx.log, "[maestro] stopped: the transaction was rolled back\n")
        return Outcome.fail("cancelled")
    except Exception as exc:
        if ctx.cancel.is_set():
            return Outcome.fail("cancelled")
        error = f"{progress.where}: {scrub(_driver_message(exc), secrets)}"
        write_log(ctx.log, f"[maestro] {error}\n")
        return Outcome.fail(error)
    return Outcome.ok({"rowcount": progress.rowcount, "rows": progress.rows})


def _run_statement(
    conn: Any,
    statement: str,
    job: _Job,
    ctx: RuntimeContext,
    watch: _QueryWatch,
    progress: _Progress,
) -> None:
    if ctx.cancel.is_set():
        raise _Cancelled
    write_log(ctx.log, f"[maestro] {progress.where}:\n{statement}\n")
    clause, _used = prepare(statement, job.parameters)
    result = conn.execute(clause)
    watch.record()
    if ctx.cancel.is_set():
        raise _Cancelled
    rowcount, rows = read_result(result, job.fetch)
    progress.rowcount = rowcount
    if rows is not None:
        progress.rows = rows
    shown = f"{rowcount} row(s)" if rowcount >= 0 else "done"
    write_log(ctx.log, f"[maestro] -> {shown}\n")


def read_result(result: CursorResult[Any], fetch: int) -> tuple[int, list[dict[str, Any]] | None]:
    """``(rowcount, first fetch rows or None when the statement returns no rows)``."""
    rowcount = result.rowcount
    if not result.returns_rows:
        return rowcount, None
    keys = [str(key) for key in result.keys()]  # noqa: SIM118 - a Result is no dict
    rows: list[dict[str, Any]] = []
    count = 0
    while chunk := result.fetchmany(_FETCH_CHUNK):
        count += len(chunk)
        for row in chunk[: max(0, fetch - len(rows))]:
            rows.append({key: json_safe(value) for key, value in zip(keys, row, strict=False)})
    return (rowcount if rowcount >= 0 else count), rows


def _driver_message(exc: Exception) -> str:
    """The driver's own message, without SQLAlchemy's [SQL: ...] and link decorations."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        origin = exc.orig
        detail = str(origin).strip() or type(origin).__name__
        return f"{type(origin).__name__}: {detail}"
    return f"{type(exc).__name__}: {exc}"


# -- query ids and cancelling ------------------------------------------------------------------


class _QueryWatch:
    """Records the running query's id and cancels it when ``ctx.cancel`` is set.

    The runtime's thread executes; this watcher's thread polls for the query id (Trino knows it
    from its first response, long before ``execute`` returns) and reacts to a stop.
    """

    def __init__(self, ctx: RuntimeContext, dialect: str, secrets: list[str]) -> None:
        self._ctx = ctx
        self._dialect = dialect
        self._secrets = secrets
        self._dbapi: Any = None
        self._cursor: Any = None
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.recorded: str | None = None

    def on_cursor(self, _conn: Any, cursor: Any, *_args: Any) -> None:
        self._cursor = cursor

    def start(self, dbapi_connection: Any) -> None:
        self._dbapi = dbapi_connection
        self.record()
        self._thread = threading.Thread(target=self._watch, name="sql-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()

    def _watch(self) -> None:
        while not self._done.is_set():
            if self._ctx.cancel.wait(_POLL):
                break
            self.record()
        else:
            return
        write_log(self._ctx.log, "[maestro] stopping: cancelling the running statement\n")
        failed = False
        # again every second: a cancel that reached the server between two statements is lost
        while True:
            with self._lock:
                if self._done.is_set():
                    return
                failed = self._cancel(log_failure=not failed) or failed
            if self._done.wait(_RECANCEL):
                return

    def record(self) -> None:
        query_id = self._query_id()
        with self._lock:
            if query_id is None or query_id == self.recorded:
                return
            self.recorded = query_id
        write_log(self._ctx.log, f"[maestro] query id: {query_id}\n")
        try:
            self._ctx.set_external_id(query_id)
        except Exception as exc:
            write_log(self._ctx.log, f"[maestro] could not record the query id: {exc}\n")

    def _query_id(self) -> str | None:
        try:
            query_id = getattr(self._cursor, "query_id", None) if self._cursor else None
            if isinstance(query_id, str) and query_id:
                return query_id
            info = getattr(self._dbapi, "info", None)
            pid = getattr(info, "backend_pid", None)
        except Exception:  # a driver's attribute access failed: no id, nothing more
            return None
        return f"pid:{pid}" if isinstance(pid, int) and pid else None

    def _cancel(self, *, log_failure: bool) -> bool:
        """Cancel the running statement; True when that failed."""
        try:
            _cancel_query(self._dialect, self._dbapi, self._cursor)
        except Exception as exc:
            if log_failure:
                message = f"[maestro] cancel failed: {type(exc).__name__}: {exc}\n"
                write_log(self._ctx.log, scrub(message, self._secrets))
            return True
        return False


def _cancel_query(dialect: str, dbapi: Any, cursor: Any) -> None:
    if dialect == "trino":
        if cursor is not None:
            cursor.cancel()
    elif dialect == "duckdb":
        dbapi.interrupt()
    elif hasattr(dbapi, "cancel_safe"):
        dbapi.cancel_safe(timeout=_CANCEL_TIMEOUT)
    elif hasattr(dbapi, "cancel"):
        dbapi.cancel()
    elif hasattr(dbapi, "interrupt"):
        dbapi.interrupt()


# -- JSON-safe values --------------------------------------------------------------------------


def json_safe(value: Any) -> Any:
    """``value`` as something ``json.dumps`` writes faithfully."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return _decimal(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(item) for item in value]
    return str(value)


def _decimal(value: Decimal) -> int | float | str:
    if not value.is_finite():
        return str(value)
    if value == value.to_integral_value():
        return int(value)
    as_float = float(value)
    return as_float if Decimal(repr(as_float)) == value else str(value)
