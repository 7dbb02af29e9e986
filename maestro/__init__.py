"""Maestro for Python: the control plane (definitions, expressions, states, store, engine, CLI)."""

__version__ = "0.1.0"
