"""The datasets a step reads and writes (``inputs:`` / ``outputs:``), as OpenLineage names
them: a namespace (where the data lives: ``postgres://db:5432``, ``s3://bucket``, ``file``) and
a name inside it (``sales.public.orders``, ``/data/orders.csv``). Lineage events carry them
(docs/observability.md, "Lineage"); nothing else reads them.

Written as a map ``{namespace: …, name: …}`` or as one string ``<scheme>://<authority>/<name>``
(``postgres://db:5432/sales.orders``: namespace ``postgres://db:5432``, name ``sales.orders``);
an empty authority leaves the scheme as the namespace and the path as the name
(``file:///data/orders.csv``: namespace ``file``, name ``/data/orders.csv``).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from maestro.definition.basics import NonBlank, _Model


class Dataset(_Model):
    """One dataset: its namespace and its name in that namespace."""

    namespace: NonBlank
    name: NonBlank


def parse_dataset(value: Any) -> Any:
    """``<scheme>://<authority>/<name>`` as a map; a map or anything else as given."""
    if not isinstance(value, str):
        return value
    scheme, sep, rest = value.strip().partition("://")
    if not sep or not scheme:
        raise ValueError(
            f"dataset {value!r}: write '<scheme>://<authority>/<name>' "
            "(e.g. 'postgres://db:5432/sales.orders') or {namespace: …, name: …}"
        )
    authority, slash, path = rest.partition("/")
    if not authority:  # file:///data/x.csv → namespace file, name /data/x.csv
        return {"namespace": scheme, "name": "/" + path if slash else ""}
    if not slash or not path:
        raise ValueError(f"dataset {value!r} has no name after '{scheme}://{authority}/'")
    return {"namespace": f"{scheme}://{authority}", "name": path}


def _to_list(value: Any) -> Any:
    return [value] if isinstance(value, str | dict) else value


#: a step's ``inputs`` or ``outputs``: a list of datasets (one alone may be written bare)
Datasets = Annotated[
    list[Annotated[Dataset, BeforeValidator(parse_dataset)]],
    BeforeValidator(_to_list),
    Field(default_factory=list),
]
