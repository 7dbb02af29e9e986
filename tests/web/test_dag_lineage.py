"""What the page's script needs to light up a step's upstream and downstream and to pan and
zoom the DAG: edges that name their ends, a group to transform, the zoom buttons, the frame's
keyboard focus and the live line (``static/dag.js`` does the rest; tests/e2e checks it)."""

from __future__ import annotations

import html
import re

import networkx as nx
from fastapi.testclient import TestClient

from api.web import dag
from tests.engine.harness import Harness
from tests.web.test_dag import DIAMOND

BRANCHY = """
id: w
owner: o
steps:
  - {id: extract, type: noop}
  - {id: clean, type: noop, depends_on: [extract]}
  - {id: audit, type: noop, depends_on: [extract]}
  - {id: load, type: noop, depends_on: [clean]}
  - {id: report, type: noop, depends_on: [load, audit]}
  - {id: lonely, type: noop}
"""


def _edges(svg: str) -> set[tuple[str, str]]:
    found = re.findall(
        r'<path d="[^"]+" data-edge="[^"]+" data-from="([^"]+)" data-to="([^"]+)"', svg
    )
    return {(html.unescape(u), html.unescape(v)) for u, v in found}


def test_every_edge_names_its_ends_so_that_lineage_can_be_walked() -> None:
    svg = str(dag.render(dag.layout(DIAMOND), {}, "diamond"))
    assert _edges(svg) == {("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")}
    # edges and nodes are inside the one group the reader pans and zooms
    view = re.search(r'<g class="dag-view">(.*)</g></svg>$', svg, re.S)
    assert view and 'class="edges"' in view.group(1)
    assert view.group(1).count('class="dag-node"') == 4


def test_the_run_page_carries_the_lineage_the_zoom_buttons_and_the_live_line(
    client: TestClient, harness: Harness
) -> None:
    run_id = harness.start(BRANCHY)
    harness.drain(run_id)
    page = client.get(f"/runs/{run_id}").text
    edges = _edges(page)
    assert edges == {
        ("extract", "clean"),
        ("extract", "audit"),
        ("clean", "load"),
        ("load", "report"),
        ("audit", "report"),
    }
    # walked as the script walks them: report's upstream is everything but lonely
    graph = nx.DiGraph(list(edges))
    assert nx.ancestors(graph, "report") == {"extract", "clean", "audit", "load"}
    assert nx.descendants(graph, "clean") == {"load", "report"}
    for zoom in ("in", "out", "reset"):
        assert f'data-zoom="{zoom}" data-dag="dag-wrap"' in page
    assert "Fit to screen" in page  # still there
    frame = re.search(r'<div class="dag-wrap" id="dag-wrap"[^>]*>', page)
    assert frame and 'tabindex="0"' in frame.group(0)
    assert 'aria-describedby="dag-hint"' in frame.group(0)
    assert 'id="dag-lineage" aria-live="polite"' in page
    assert re.search(r'<script src="/static/dag\.js\?v=\w+" defer>', page)


def test_a_step_id_in_the_edges_is_escaped() -> None:
    svg = str(dag.render(dag.layout((("a", ()), ('b"><x', ("a",)))), {}, "x"))
    assert 'data-to="b&#34;&gt;&lt;x"' in svg and '"><x' not in svg
