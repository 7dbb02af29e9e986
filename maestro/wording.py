"""How counts read in messages: "1 problem", "3 problems" — never "problem(s)"."""

from __future__ import annotations


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """``plural(1, "step")`` → ``"1 step"``; ``plural(2, "step")`` → ``"2 steps"``."""
    return f"{count} {noun if count == 1 else (plural_form or noun + 's')}"
