"""Shapes shared by every resource: the problem document and page conventions."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ProblemItem(BaseModel):
    """One invalid value: where it is (``["steps", 2, "depends_on", 0]``) and what is wrong."""

    loc: list[str | int]
    msg: str


class Problem(BaseModel):
    """An error, as RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[ProblemItem] | None = None


class Public(BaseModel):
    """Base of response documents, built from the engine's read models."""

    model_config = ConfigDict(from_attributes=True)


class PagePublic(Public):
    next_cursor: str | None = Field(
        description="Pass as ?cursor= to get the next page; null on the last page."
    )
