"""Python step of examples/hello.yaml."""

from __future__ import annotations


def count_letters(text: str) -> dict[str, int]:
    """Count the letters of ``text``; the returned dict becomes the step's outputs."""
    print(f"counting letters of {text!r}")
    return {"letters": sum(c.isalpha() for c in text)}
