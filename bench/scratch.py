"""Throwaway PostgreSQL databases for the benchmarks that need one."""

from __future__ import annotations

import uuid

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from maestro.store.db import Database
from maestro.store.migrate import upgrade


def admin(base_url: str, statement: str) -> None:
    """One statement on the server's maintenance database, outside a transaction."""
    engine = create_engine(base_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()


def create_database(base_url: str, prefix: str = "maestro_bench") -> tuple[str, str]:
    """A new, migrated database next to ``base_url``: its (name, url)."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin(base_url, f"CREATE DATABASE {name}")
    url = make_url(base_url).set(database=name).render_as_string(hide_password=False)
    db = Database(url)
    try:
        upgrade(db)
    finally:
        db.dispose()
    return name, url


def drop_database(base_url: str, name: str) -> None:
    admin(base_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
