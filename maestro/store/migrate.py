"""Run Alembic migrations from code (``maestro db upgrade``, the embedded start-up)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

import migrations
from maestro.store.db import Database


def alembic_config(db: Database) -> Config:
    folder = Path(migrations.__file__).parent
    cfg = Config()
    cfg.set_main_option("script_location", str(folder))
    cfg.set_main_option("version_locations", str(folder / "versions"))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    return cfg


def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (idempotent)."""
    cfg = alembic_config(db)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def pending(db: Database) -> bool:
    """Whether the schema is behind the code (``maestro db upgrade`` has not run)."""
    heads = set(ScriptDirectory.from_config(alembic_config(db)).get_heads())
    with db.engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    return current != heads
