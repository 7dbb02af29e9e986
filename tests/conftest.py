"""Shared fixtures: a fresh, migrated store per test on SQLite and (when configured) PostgreSQL.

PostgreSQL comes from MAESTRO_TEST_DATABASE_URL (scripts/test.sh starts a throwaway server and
sets it). Each test gets its own database cloned from a migrated template, so tests are
isolated and migrations run once per session.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from maestro.store.db import Database
from maestro.store.migrate import upgrade

PG_URL = os.environ.get("MAESTRO_TEST_DATABASE_URL", "")
TEMPLATE_DB = f"maestro_test_template_{os.getpid()}"  # one per test session

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgres",
        id="postgres",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(not PG_URL, reason="MAESTRO_TEST_DATABASE_URL is not set"),
        ],
    ),
]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "maestro.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    db.dispose()
    return path


def _admin(statement: str) -> None:
    """One statement on the maintenance database, on a fresh connection (the server may have
    been restarted by a fault test since the last one)."""
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            conn.execute(text(statement))
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    _admin(f"DROP DATABASE IF EXISTS {TEMPLATE_DB} WITH (FORCE)")
    _admin(f"CREATE DATABASE {TEMPLATE_DB}")
    url = make_url(PG_URL).set(database=TEMPLATE_DB).render_as_string(hide_password=False)
    db = Database(url)
    upgrade(db)
    db.dispose()
    yield TEMPLATE_DB
    _admin(f"DROP DATABASE IF EXISTS {TEMPLATE_DB} WITH (FORCE)")


def fresh_pg_database(template: str) -> tuple[str, str]:
    name = f"maestro_t_{uuid.uuid4().hex[:12]}"
    _admin(f"CREATE DATABASE {name} TEMPLATE {template}")
    return name, make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(name: str) -> None:
    _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty store: a SQLite file, or a PostgreSQL database of its own."""
    if request.param == "sqlite":
        path = tmp_path / "maestro.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    name, url = fresh_pg_database(request.getfixturevalue("pg_template"))
    yield url
    drop_pg_database(name)
