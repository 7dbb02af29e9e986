"""Bringing definitions from other orchestrators here."""
