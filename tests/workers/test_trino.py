"""The sql runtime on Trino: the real ``trino`` client and SQLAlchemy dialect.

Against ``trino_server.FakeTrino`` (the HTTP statement protocol, served in a thread), and against
a real Trino when MAESTRO_TEST_TRINO_URL is set (e.g. ``trino://maestro@127.0.0.1:8080/tpch``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest

from tests.workers.conftest import NewCtx, log_text, run_in_thread, wait_for
from tests.workers.trino_server import FakeTrino, Reply
from workers.runtimes.sql import SqlRuntime

TRINO_URL = os.environ.get("MAESTRO_TEST_TRINO_URL", "")


@pytest.fixture
def trino(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTrino]:
    server = FakeTrino().start()
    monkeypatch.setenv("MAESTRO_CONN_LAKE", f"trino://etl@127.0.0.1:{server.port}/hive/default")
    yield server
    server.close()


def test_statements_run_in_order_through_the_trino_dialect(
    trino: FakeTrino, new_ctx: NewCtx
) -> None:
    trino.script("INSERT INTO", Reply(update_type="INSERT", rows=[[1], [2], [3]]))
    trino.script(
        "SELECT title",
        Reply(
            columns=[("title", "varchar"), ("plays", "bigint"), ("day", "date")],
            rows=[["a", 10, "2024-03-01"], ["b", 7, "2024-03-01"], ["c", 1, "2024-03-01"]],
            page_size=2,  # two pages: the client follows nextUri
        ),
    )
    query = (
        "INSERT INTO plays SELECT * FROM staging;\n"
        "SELECT title, plays, day FROM plays ORDER BY plays DESC"
    )
    ctx, ids = new_ctx("sql", {"connection": "lake", "query": query, "fetch": 2})
    outcome = SqlRuntime().run(ctx)
    assert outcome.status == "succeeded", outcome.error
    assert outcome.outputs == {
        "rowcount": 3,
        "rows": [
            {"title": "a", "plays": 10, "day": "2024-03-01"},
            {"title": "b", "plays": 7, "day": "2024-03-01"},
        ],
    }
    insert = trino.queries_matching("INSERT INTO")[0]
    select = trino.queries_matching("SELECT title")[0]
    assert trino.queries.index(insert) < trino.queries.index(select)
    assert insert.user == "etl"
    # each statement's Trino query id was recorded, the last one last
    assert ids.ids[-2:] == [insert.id, select.id]
    assert f"query id: {select.id}" in log_text(ctx)


def test_parameters_are_sent_to_trino_bound_not_pasted(trino: FakeTrino, new_ctx: NewCtx) -> None:
    trino.script("FROM plays WHERE", Reply(columns=[("n", "bigint")], rows=[[5]]))
    query = "SELECT count(*) AS n FROM plays WHERE ds = :ds AND note = 'x:y'"
    ctx, _ = new_ctx(
        "sql", {"connection": "lake", "query": query, "parameters": {"ds": "2024-03-01"}}
    )
    outcome = SqlRuntime().run(ctx)
    assert outcome.outputs == {"rowcount": 1, "rows": [{"n": 5}]}
    sent = trino.queries_matching("FROM plays WHERE")[-1].sql
    # the client sends the statement with a placeholder and the value separately
    assert sent == (
        "EXECUTE IMMEDIATE 'SELECT count(*) AS n FROM plays WHERE ds = ? AND note = ''x:y'''"
        " USING '2024-03-01'"
    )


def test_a_trino_error_fails_the_attempt_with_its_message(
    trino: FakeTrino, new_ctx: NewCtx
) -> None:
    trino.script("SELEC ", Reply(error="line 1:1: mismatched input 'SELEC'"))
    ctx, _ = new_ctx("sql", {"connection": "lake", "query": "SELEC 1"})
    outcome = SqlRuntime().run(ctx)
    assert outcome.status == "failed" and not outcome.permanent
    assert outcome.error is not None
    assert outcome.error.startswith("statement 1 of 1: TrinoUserError")
    assert "mismatched input 'SELEC'" in outcome.error


def test_a_stop_cancels_the_running_trino_query_with_delete(
    trino: FakeTrino, new_ctx: NewCtx
) -> None:
    trino.script("FROM huge", Reply(slow=True))
    ctx, ids = new_ctx("sql", {"connection": "lake", "query": "SELECT count(*) FROM huge"})
    thread, result = run_in_thread(lambda: SqlRuntime().run(ctx))
    assert trino.started_slow.wait(20)
    slow = trino.queries_matching("FROM huge")[0]
    # the query id is recorded while the query runs, long before it would return
    wait_for(lambda: slow.id in ids.ids)
    ctx.cancel.set()
    assert trino.cancelled.wait(10), "no DELETE reached the server"
    thread.join(20)
    assert not thread.is_alive()
    assert trino.deletes[0] == slow.id
    assert result[0].status == "failed" and result[0].error == "cancelled"


@pytest.mark.skipif(not TRINO_URL, reason="MAESTRO_TEST_TRINO_URL is not set")
def test_a_real_trino(new_ctx: NewCtx, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAESTRO_CONN_REAL_TRINO", TRINO_URL)
    query = (
        "SELECT 1 AS one;"
        "SELECT x, x * 2 AS y FROM (VALUES 1, 2, 3) AS t(x) WHERE x >= :lo ORDER BY x"
    )
    ctx, ids = new_ctx(
        "sql", {"connection": "real-trino", "query": query, "parameters": {"lo": 2}, "fetch": 10}
    )
    outcome = SqlRuntime().run(ctx)
    assert outcome.status == "succeeded", outcome.error
    assert outcome.outputs == {"rowcount": 2, "rows": [{"x": 2, "y": 4}, {"x": 3, "y": 6}]}
    assert ids.ids and all(re.fullmatch(r"\d{8}_\d{6}_\d{5}_\w{5}", i) for i in ids.ids)
