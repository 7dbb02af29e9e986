"""Alembic migrations (one history for SQLite and PostgreSQL; batch mode for SQLite)."""
