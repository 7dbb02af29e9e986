"""Persistence: tables, the database handle, units of work and the transition function."""
