"""Fencing (issue 17, item 1): when a step runs again because its worker died (the previous
attempt LOST), the query that attempt left running on Trino is killed before the new attempt
sends anything — through the real ``trino`` client's coordinator protocol on a fake coordinator
(``trino_server.FakeTrino``) and Trino's REST API (``DELETE /v1/query/{id}``); the claim hands
the lost attempt's id to the runtime."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trino as client  # the real DBAPI

from maestro.connections import parse
from maestro.engine.attempts import claim, set_external_id
from maestro.states import AttemptStatus
from tests.engine.harness import Harness
from tests.workers.conftest import NewCtx, log_text, wait_for
from tests.workers.test_trino import TRINO_URL
from tests.workers.trino_server import FakeTrino, Reply
from workers.executor import AttemptExecutor
from workers.runtimes.sql import SqlRuntime

SLOW = "INSERT INTO sales SELECT * FROM staging"


@pytest.fixture
def trino(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTrino]:
    server = FakeTrino().start()
    monkeypatch.setenv("MAESTRO_CONN_LAKE", f"trino://etl@127.0.0.1:{server.port}/hive/default")
    yield server
    server.close()


def _orphan(trino: FakeTrino) -> str:
    """A query left running by a dead worker: started through the real client, never awaited."""
    trino.script(SLOW, Reply(slow=True))

    conn = client.dbapi.connect(host="127.0.0.1", port=trino.port, user="etl")
    cursor = conn.cursor()

    def run_until_killed() -> None:
        with contextlib.suppress(Exception):  # the kill fails it: USER_CANCELED
            cursor.execute(SLOW)
            cursor.fetchall()

    threading.Thread(target=run_until_killed, daemon=True).start()
    assert trino.started_slow.wait(10)
    return trino.queries_matching(SLOW)[0].id


def test_a_lost_attempts_query_is_killed_before_the_step_runs_again(
    trino: FakeTrino, new_ctx: NewCtx
) -> None:
    orphan = _orphan(trino)
    trino.script("SELECT 1 AS again", Reply())
    ctx, _ = new_ctx(
        "sql", {"connection": "lake", "query": "SELECT 1 AS again"}, attempt=2, fence_id=orphan
    )
    outcome = AttemptExecutor._call(SqlRuntime(), ctx, ctx.log)
    assert outcome.status == "succeeded", outcome.error
    assert trino.killed == [orphan]
    kill = trino.log.index(("KILL", orphan))
    again = next(i for i, (kind, sql) in enumerate(trino.log) if "again" in sql)
    assert kill < again, "the new attempt started before the old query was killed"
    assert f"killing its query {orphan}" in log_text(ctx)


def test_a_query_that_already_ended_is_no_obstacle(trino: FakeTrino, new_ctx: NewCtx) -> None:
    ctx, _ = new_ctx("sql", {"connection": "lake", "query": "SELECT 1"}, attempt=2)
    SqlRuntime().fence(ctx, "20260101_000000_99999_gone0")
    assert trino.killed == ["20260101_000000_99999_gone0"]
    assert "HTTP 404" in log_text(ctx)
    outcome = SqlRuntime().run(ctx)
    assert outcome.status == "succeeded", outcome.error


def test_no_fence_without_a_lost_attempt(trino: FakeTrino, new_ctx: NewCtx) -> None:
    ctx, _ = new_ctx("sql", {"connection": "lake", "query": "SELECT 1"})
    assert AttemptExecutor._call(SqlRuntime(), ctx, ctx.log).status == "succeeded"
    assert trino.killed == []


def test_the_claim_of_a_retry_names_the_lost_attempts_external_id(
    db_url: str, tmp_path: Path
) -> None:
    h = Harness(db_url, tmp_path, heartbeat_interval=0.2, heartbeat_timeout=5, kill_grace=0.5)
    try:
        h.start("id: w\nowner: o\nsteps: [{id: q, type: noop}]\n")
        (first,) = [d.attempt_id for d in h.dispatcher.pending]
        h.dispatcher.pending.clear()
        claimed = claim(h.engine, first, "dead-worker")
        assert claimed is not None and claimed.fence_id is None  # a first attempt: nothing
        set_external_id(h.engine, first, "20260101_000000_00001_lost0")
        h.clock.advance(60)  # the worker stops heartbeating: LOST, and a retry is made
        h.scheduler.tick()
        with h.db.read() as conn:
            status = conn.exec_driver_sql(f"SELECT status FROM attempts WHERE id = {first}")
            assert status.scalar() == AttemptStatus.LOST.value
        for _ in range(10):  # the retry's backoff
            if h.dispatcher.pending:
                break
            h.clock.advance(30)
            h.scheduler.tick()
        (retry,) = [d.attempt_id for d in h.dispatcher.pending]
        again = claim(h.engine, retry, "live-worker")
        assert again is not None and again.fence_id == "20260101_000000_00001_lost0"
    finally:
        h.close()


@pytest.mark.skipif(not TRINO_URL, reason="MAESTRO_TEST_TRINO_URL is not set")
def test_a_real_trino_kills_the_lost_query(
    new_ctx: NewCtx, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a real coordinator: a long query (a cross join of a big sequence) is left running by
    a connection nobody reads, then fenced by id; Trino reports it failed (killed)."""
    monkeypatch.setenv("MAESTRO_CONN_REAL_TRINO", TRINO_URL)
    url = parse(TRINO_URL)
    conn = client.dbapi.connect(host=url.host, port=url.port or 8080, user=url.username)
    cursor = conn.cursor()
    long = (
        "SELECT count(*) FROM UNNEST(sequence(1, 100000)) a(x) "
        "CROSS JOIN UNNEST(sequence(1, 100000)) b(y)"
    )

    def run_until_killed() -> None:
        with contextlib.suppress(Exception):
            cursor.execute(long)
            cursor.fetchall()

    threading.Thread(target=run_until_killed, daemon=True).start()
    wait_for(lambda: cursor.query_id is not None)
    query_id = cursor.query_id
    ctx, _ = new_ctx("sql", {"connection": "real-trino", "query": "SELECT 1"}, attempt=2)
    SqlRuntime().fence(ctx, query_id)
    assert "HTTP 204" in log_text(ctx) or "HTTP 200" in log_text(ctx)

    def state() -> str:
        info = httpx.get(
            f"http://{url.host}:{url.port or 8080}/v1/query/{query_id}",
            headers={"X-Trino-User": url.username or "maestro"},
            timeout=10,
        )
        return str(info.json().get("state"))

    wait_for(lambda: state() == "FAILED")
