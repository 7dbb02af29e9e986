"""The import graph of the packages has no cycle, nothing hides one inside a function, and
the engine writes SQL only through the store's repositories.

import-linter's layer contracts (``make lint``) say who may import whom; this test says the
graph as a whole is acyclic, TYPE_CHECKING imports included — a cycle kept from failing by
an import placed inside a function, or behind ``if TYPE_CHECKING``, is still a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import networkx as nx
import pytest


def import_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    graph = nx.DiGraph()
    for module, imported in edges.items():
        graph.add_node(module)
        graph.add_edges_from((module, other) for other in imported)
    return [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]


def test_the_detector_finds_a_cycle_through_three_modules() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert import_cycles(edges) == [["a", "b", "c"]]
    assert import_cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("package", ["maestro", "api", "workers"])
def test_no_import_cycle(package: str) -> None:
    graph = grimp.build_graph(package)  # TYPE_CHECKING imports count
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    assert import_cycles(edges) == []


def sql_writers(source: str) -> set[str]:
    """The SQLAlchemy write constructs a module imports."""
    tree = ast.parse(source)
    return {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy")
        for alias in node.names
        if alias.name in {"insert", "update", "delete"}
    }


def test_the_writer_check_sees_an_imported_update() -> None:
    assert sql_writers("from sqlalchemy import select, update\n") == {"update"}
    assert sql_writers("from sqlalchemy.dialects.postgresql import insert\n") == {"insert"}
    assert sql_writers("from sqlalchemy import select\n") == set()


def test_the_engine_writes_only_through_the_store() -> None:
    """Every INSERT, UPDATE and DELETE lives in a maestro.store repository; the engine's
    modules decide and call them."""
    engine = Path(__file__).resolve().parents[2] / "maestro" / "engine"
    writers = {
        path.name: found
        for path in sorted(engine.glob("*.py"))
        if (found := sql_writers(path.read_text()))
    }
    assert writers == {}
