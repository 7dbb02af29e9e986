"""API documents built from the read side's shapes (``maestro.reads``), not copied from them.

``@from_shape(reads.RunSummary)`` on a ``Public`` class adds every field of the dataclass the
class does not declare itself, with the dataclass's type: a field added to a read shape is in
the API the moment it exists, and one renamed there cannot drift here. A class declares a
field only to say more than its type (a description, a narrower type, a nested document), or
leaves one out with ``exclude`` (what the API does not show, such as a log's path on the
server).
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Collection
from typing import Any, TypeVar

from pydantic import BaseModel, create_model

M = TypeVar("M", bound=BaseModel)


def from_shape(shape: type[Any], *, exclude: Collection[str] = ()) -> Callable[[type[M]], type[M]]:
    """The decorated model, with the fields of dataclass ``shape`` it lacks (all required:
    a read shape always has every field, ``None`` when there is no value)."""

    def build(cls: type[M]) -> type[M]:
        hints = typing.get_type_hints(shape)
        missing: dict[str, Any] = {
            field.name: (hints[field.name], ...)
            for field in dataclasses.fields(shape)
            if field.name not in cls.model_fields and field.name not in exclude
        }
        model = create_model(
            cls.__name__,
            __base__=cls,
            __module__=cls.__module__,
            __doc__=cls.__doc__,
            **missing,
        )
        return model

    return build
