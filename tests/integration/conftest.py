"""Integration tier: real PostgreSQL, real Redis, real ``maestro scheduler``/``worker``
processes. Needs MAESTRO_TEST_DATABASE_URL (scripts/test.sh) and redis-server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PG_URL, drop_pg_database, fresh_pg_database
from tests.support.cluster import Cluster, RedisServer

needs_services = pytest.mark.skipif(not PG_URL, reason="MAESTRO_TEST_DATABASE_URL is not set")


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    name, url = fresh_pg_database(pg_template)
    yield url
    drop_pg_database(name)


@pytest.fixture
def cluster(pg_url: str, redis_server: RedisServer, tmp_path: Path) -> Iterator[Cluster]:
    home = tmp_path / "home"
    home.mkdir()
    c = Cluster(
        pg_url,
        redis_server.url,
        home,
        env={
            "MAESTRO_HEARTBEAT_INTERVAL": "0.3",
            "MAESTRO_HEARTBEAT_TIMEOUT": "2",
            "MAESTRO_REDISPATCH_AFTER": "2",
            "MAESTRO_POLL_INTERVAL": "0.5",
            "MAESTRO_KILL_GRACE": "1",
        },
    )
    yield c
    c.close()
