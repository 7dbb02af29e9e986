"""The sql runtime: statement splitting and binding, then real queries on DuckDB and PostgreSQL.

PostgreSQL comes from MAESTRO_TEST_DATABASE_URL (scripts/test.sh starts one); each test module
run creates a database of its own and drops it at the end.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from tests.conftest import PG_URL
from tests.engine.harness import Harness
from tests.workers.conftest import NewCtx, log_text, run_in_thread, wait_for
from workers.runtimes.base import RuntimeContext
from workers.runtimes.sql import SqlRuntime, json_safe, prepare, split_statements

needs_pg = pytest.mark.skipif(not PG_URL, reason="MAESTRO_TEST_DATABASE_URL is not set")


# -- splitting and binding ---------------------------------------------------------------------


def test_statements_split_on_semicolons_outside_quotes_and_comments() -> None:
    sql = """
        -- a comment; with a semicolon
        CREATE TABLE t (a text);  /* block; comment */
        INSERT INTO t VALUES ('x;y'), ('it''s; fine'), ("q;uoted");
        SELECT $$dollar; quoted$$, $tag$ more; $$ inside $tag$ FROM t;;
        ;
        -- only a comment after the last statement
    """
    assert split_statements(sql) == [
        "-- a comment; with a semicolon\n        CREATE TABLE t (a text)",
        "/* block; comment */\n        "
        "INSERT INTO t VALUES ('x;y'), ('it''s; fine'), (\"q;uoted\")",
        "SELECT $$dollar; quoted$$, $tag$ more; $$ inside $tag$ FROM t",
    ]


def test_a_single_statement_without_semicolon_and_unterminated_quotes() -> None:
    assert split_statements("select 1") == ["select 1"]
    assert split_statements("select 'a;b") == ["select 'a;b"]
    assert split_statements("  ;  -- nothing\n ; /* at all */") == []
    assert split_statements("select $1; select 2") == ["select $1", "select 2"]


def test_only_named_parameters_are_bound_and_other_colons_stay_literal() -> None:
    clause, used = prepare(
        "SELECT :ds, x::int, ':ds in quotes', :unknown -- :ds in a comment", {"ds": "2024-01-01"}
    )
    assert used == ["ds"]
    assert set(clause._bindparams) == {"ds"}
    compiled = str(clause.compile(compile_kwargs={"render_postcompile": True}))
    assert compiled == "SELECT :ds, x::int, ':ds in quotes', :unknown -- :ds in a comment"


def test_values_become_json_safe() -> None:
    row = {
        "d": date(2024, 3, 1),
        "ts": datetime(2024, 3, 1, 10, 0, tzinfo=UTC),
        "int_dec": Decimal("42"),
        "dec": Decimal("1.25"),
        "long_dec": Decimal("12345678901234567890.123456789"),
        "nan": float("nan"),
        "b": b"\x00\xff",
        "u": uuid.UUID(int=1),
        "td": timedelta(minutes=2),
        "nested": {"a": [Decimal("1.5"), (date(2024, 1, 2),)]},
    }
    assert json_safe(row) == {
        "d": "2024-03-01",
        "ts": "2024-03-01T10:00:00+00:00",
        "int_dec": 42,
        "dec": 1.25,
        "long_dec": "12345678901234567890.123456789",
        "nan": "nan",
        "b": "00ff",
        "u": "00000000-0000-0000-0000-000000000001",
        "td": 120.0,
        "nested": {"a": [1.5, ["2024-01-02"]]},
    }


# -- DuckDB ------------------------------------------------------------------------------------


@pytest.fixture
def duck(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    monkeypatch.setenv("MAESTRO_CONN_DUCK", url)
    return url


def run_sql(new_ctx: NewCtx, **settings: object) -> tuple[object, RuntimeContext]:
    ctx, _ids = new_ctx("sql", {"fetch": 100, "parameters": {}, **settings})
    return SqlRuntime().run(ctx), ctx


def test_duckdb_statements_from_a_file_with_parameters(
    duck: str, new_ctx: NewCtx, workdir: Path
) -> None:
    (workdir / "sql").mkdir()
    (workdir / "sql" / "load.sql").write_text(
        """
        CREATE TABLE plays (title VARCHAR, ds DATE, secs DECIMAL(8, 2));
        -- ':' and ';' inside quotes and comments are left alone
        INSERT INTO plays VALUES ('a;b', CAST(:ds AS DATE), 1.5), ('c:d', CAST(:ds AS DATE), 2),
                                 ('old', DATE '2020-01-01', 3);
        SELECT title, ds, secs FROM plays WHERE ds = CAST(:ds AS DATE) ORDER BY title;
        """
    )
    outcome, ctx = run_sql(
        new_ctx, connection="duck", file="sql/load.sql", parameters={"ds": "2024-03-01"}
    )
    assert outcome.status == "succeeded", outcome.error  # type: ignore[attr-defined]
    assert outcome.outputs == {  # type: ignore[attr-defined]
        "rowcount": 2,
        "rows": [
            {"title": "a;b", "ds": "2024-03-01", "secs": 1.5},
            {"title": "c:d", "ds": "2024-03-01", "secs": 2},
        ],
    }
    assert "statement 3 of 3" in log_text(ctx)


def test_duckdb_fetch_limits_rows_but_not_the_rowcount(duck: str, new_ctx: NewCtx) -> None:
    outcome, _ = run_sql(
        new_ctx, connection="duck", query="SELECT range AS i FROM range(5) ORDER BY i", fetch=2
    )
    assert outcome.outputs == {"rowcount": 5, "rows": [{"i": 0}, {"i": 1}]}  # type: ignore[attr-defined]


def test_duckdb_a_failing_statement_rolls_back_the_earlier_ones(duck: str, new_ctx: NewCtx) -> None:
    setup, _ = run_sql(new_ctx, connection="duck", query="CREATE TABLE t (a INTEGER)")
    assert setup.status == "succeeded"  # type: ignore[attr-defined]
    outcome, _ = run_sql(
        new_ctx, connection="duck", query="INSERT INTO t VALUES (1); SELECT * FROM missing_table"
    )
    assert outcome.status == "failed"  # type: ignore[attr-defined]
    assert outcome.permanent is False  # type: ignore[attr-defined]
    assert outcome.error.startswith("statement 2 of 2: CatalogException")  # type: ignore[attr-defined]
    assert "missing_table" in outcome.error  # type: ignore[attr-defined]
    count, _ = run_sql(new_ctx, connection="duck", query="SELECT count(*) AS n FROM t")
    assert count.outputs["rows"] == [{"n": 0}]  # type: ignore[attr-defined]


def test_duckdb_a_stop_interrupts_the_running_query(duck: str, new_ctx: NewCtx) -> None:
    query = "SELECT count(*) FROM range(1000000000000) t(i) WHERE i % 7 = 3"
    ctx, _ids = new_ctx("sql", {"connection": "duck", "query": query, "fetch": 10})
    thread, result = run_in_thread(lambda: SqlRuntime().run(ctx))
    wait_for(lambda: "statement 1 of 1" in log_text(ctx))
    started = time.monotonic()
    ctx.cancel.set()
    thread.join(30)
    assert not thread.is_alive()
    assert result[0].status == "failed" and result[0].error == "cancelled"
    assert time.monotonic() - started < 10
    assert "cancelling the running statement" in log_text(ctx)


def test_an_unknown_connection_and_a_missing_dialect_are_permanent(
    new_ctx: NewCtx, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcome, _ = run_sql(new_ctx, connection="nowhere", query="select 1")
    assert outcome.permanent and "unknown connection 'nowhere'" in outcome.error  # type: ignore[attr-defined]
    monkeypatch.setenv("MAESTRO_CONN_ODD", "nosuchdialect://u:pw12345@h/db")
    outcome, ctx = run_sql(new_ctx, connection="odd", query="select 1")
    assert outcome.permanent  # type: ignore[attr-defined]
    assert "no SQLAlchemy dialect for 'nosuchdialect'" in outcome.error  # type: ignore[attr-defined]
    assert "pip install 'maestro-py[sql]'" in outcome.error  # type: ignore[attr-defined]
    assert "pw12345" not in outcome.error + log_text(ctx)  # type: ignore[attr-defined]


def test_a_sql_step_in_a_workflow_with_the_connections_file_setting(
    tmp_path: Path, sqlite_template: Path
) -> None:
    store = tmp_path / "maestro.db"
    shutil.copy(sqlite_template, store)
    connections = tmp_path / "connections-config.yaml"
    connections.write_text(f"wh: duckdb:///{tmp_path / 'wh.duckdb'}\n")
    harness = Harness(f"sqlite:///{store}", tmp_path, connections_file=connections)
    try:
        run_id = harness.start(
            """
            id: sql-flow
            owner: t
            params: {n: {type: int, default: 3}}
            steps:
              - id: load
                type: sql
                sql:
                  connection: wh
                  query: |
                    CREATE TABLE nums AS SELECT range AS i FROM range(:n);
                    SELECT count(*) AS n, sum(i) AS total FROM nums
                  parameters: {n: "{{ params.n }}"}
              - id: report
                type: shell
                depends_on: [load]
                when: "steps.load.outputs.rows[0].n == 3"
                shell:
                  command: "echo total={{ steps.load.outputs.rows[0].total }} >> $MAESTRO_OUTPUT"
            """
        )
        view = harness.drain(run_id)
    finally:
        harness.close()
    assert view.status == "SUCCEEDED"
    outputs = {s.step_id: s.outputs for s in view.steps}
    assert outputs["load"] == {"rowcount": 1, "rows": [{"n": 3, "total": 3}]}
    assert outputs["report"] == {"total": 3}


# -- PostgreSQL --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    name = f"maestro_sql_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


@pytest.fixture
def pg(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MAESTRO_CONN_PG", pg_url)
    return pg_url


def pg_scalar(url: str, sql: str) -> object:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar()
    finally:
        engine.dispose()


@needs_pg
@pytest.mark.postgres
def test_postgres_statements_parameters_rows_and_the_backend_pid(pg: str, new_ctx: NewCtx) -> None:
    query = """
        CREATE TABLE plays (title text, ds date, secs numeric(10, 2), at timestamptz);
        INSERT INTO plays VALUES
            ('a', CAST(:ds AS date), 1.50, '2024-03-01 10:00+00'),
            ('b', CAST(:ds AS date), 2, '2024-03-01 11:30+00'),
            ('c', DATE '2024-02-01', 3, '2024-02-01 00:00+00');
        UPDATE plays SET secs = secs * :factor WHERE ds = CAST(:ds AS date) AND title <> '100%'
    """
    ctx, ids = new_ctx(
        "sql", {"connection": "PG", "query": query, "parameters": {"ds": "2024-03-01", "factor": 2}}
    )
    outcome = SqlRuntime().run(ctx)
    assert outcome.status == "succeeded", outcome.error
    assert outcome.outputs == {"rowcount": 2, "rows": []}  # the UPDATE touched two rows
    assert len(ids.ids) == 1 and ids.ids[0].startswith("pid:")

    ctx, _ = new_ctx(
        "sql",
        {
            "connection": "pg",
            "query": "SELECT title, ds, secs, at FROM plays WHERE ds = :ds ORDER BY title",
            "parameters": {"ds": date(2024, 3, 1)},
        },
    )
    outcome = SqlRuntime().run(ctx)
    assert outcome.outputs == {
        "rowcount": 2,
        "rows": [
            {"title": "a", "ds": "2024-03-01", "secs": 3, "at": "2024-03-01T10:00:00+00:00"},
            {"title": "b", "ds": "2024-03-01", "secs": 4, "at": "2024-03-01T11:30:00+00:00"},
        ],
    }


@needs_pg
@pytest.mark.postgres
def test_postgres_an_error_rolls_back_and_names_the_statement(pg: str, new_ctx: NewCtx) -> None:
    ctx, _ = new_ctx(
        "sql", {"connection": "pg", "query": "CREATE TABLE rolled (a int); SELECT 1 / 0"}
    )
    outcome = SqlRuntime().run(ctx)
    assert outcome.status == "failed" and not outcome.permanent
    assert outcome.error is not None
    assert outcome.error.startswith("statement 2 of 2: DivisionByZero: division by zero")
    assert pg_scalar(pg, "SELECT to_regclass('rolled') IS NULL") is True


@needs_pg
@pytest.mark.postgres
def test_postgres_a_stop_cancels_the_query_and_rolls_back(pg: str, new_ctx: NewCtx) -> None:
    query = "CREATE TABLE never (a int); INSERT INTO never VALUES (1); SELECT pg_sleep(60)"
    ctx, ids = new_ctx("sql", {"connection": "pg", "query": query})
    thread, result = run_in_thread(lambda: SqlRuntime().run(ctx))
    assert ids.seen.wait(20)
    pid = int(ids.ids[0].removeprefix("pid:"))
    sleeping = f"SELECT count(*) FROM pg_stat_activity WHERE pid = {pid} AND query LIKE '%sleep%'"
    wait_for(lambda: pg_scalar(pg, sleeping) == 1)
    started = time.monotonic()
    ctx.cancel.set()
    thread.join(30)
    assert not thread.is_alive()
    assert result[0].status == "failed" and result[0].error == "cancelled"
    assert time.monotonic() - started < 10
    assert pg_scalar(pg, "SELECT to_regclass('never') IS NULL") is True


@needs_pg
@pytest.mark.postgres
def test_a_password_never_reaches_errors_or_logs(
    new_ctx: NewCtx, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = make_url(PG_URL).set(password="Sup3rS3cretPw", port=1)
    monkeypatch.setenv("MAESTRO_CONN_BAD", url.render_as_string(hide_password=False))
    ctx, _ = new_ctx("sql", {"connection": "bad", "query": "select 1"})
    outcome = SqlRuntime().run(ctx)
    assert outcome.status == "failed" and not outcome.permanent
    assert outcome.error is not None and outcome.error.startswith("cannot connect to 'bad'")
    assert "Sup3rS3cretPw" not in outcome.error
    assert "Sup3rS3cretPw" not in log_text(ctx)
    assert ":***@" in log_text(ctx)
