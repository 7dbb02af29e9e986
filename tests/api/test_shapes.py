"""The API's documents are built from the read shapes: a field of a shape is in the API
unless excluded, a declared field says more than the shape (a description, a narrower type)."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest
from pydantic import Field, ValidationError

from api.schemas.common import Public
from api.schemas.runs import StepDetailPublic, StepPublic
from api.schemas.shapes import from_shape
from maestro import reads


@dataclasses.dataclass(frozen=True)
class Shape:
    id: int
    at: datetime
    note: str | None
    secret: str


def test_a_shapes_fields_become_the_documents_fields() -> None:
    @from_shape(Shape, exclude=("secret",))
    class Doc(Public):
        """A document."""

        id: int = Field(description="The id.", ge=1)

    assert list(Doc.model_fields) == ["id", "at", "note"]
    assert Doc.model_fields["id"].description == "The id."
    assert Doc.__doc__ == "A document."
    moment = datetime(2026, 1, 1)
    doc = Doc.model_validate(Shape(3, moment, None, "hidden"))
    assert doc.model_dump() == {"id": 3, "at": moment, "note": None}
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        Doc.model_validate(Shape(0, moment, None, "x"))  # the declared field's rule holds


def test_every_step_field_but_the_servers_log_path_is_in_the_api() -> None:
    shape = {f.name for f in dataclasses.fields(reads.StepSummary)}
    assert set(StepPublic.model_fields) == shape - {"log_path"}
    detail = {f.name for f in dataclasses.fields(reads.StepDetail)}
    assert set(StepDetailPublic.model_fields) == detail - {"log_path"}
