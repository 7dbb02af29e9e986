"""The import graph of the packages has no cycle, and nothing hides one inside a function.

import-linter's layer contracts (``make lint``) say who may import whom; this test says the
graph as a whole is acyclic, TYPE_CHECKING imports included — a cycle kept from failing by
an import placed inside a function, or behind ``if TYPE_CHECKING``, is still a cycle.
"""

from __future__ import annotations

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
