"""The DAG drawing: a layered layout whose edges all point right, that keeps nodes apart,
routes long edges around steps, reduces crossings, scales to hundreds of steps, and draws
statuses with a symbol and a label besides the color."""

from __future__ import annotations

import itertools
import random
import re
import time

from api.web import dag
from api.web.status import LOOKS, look

DIAMOND = (("a", ()), ("b", ("a",)), ("c", ("a",)), ("d", ("b", "c")))


def _overlapping(shape: dag.Layout) -> list[tuple[str, str]]:
    boxes = list(shape.positions.items())
    clashes = []
    for (m, (x1, y1)), (n, (x2, y2)) in itertools.combinations(boxes, 2):
        if abs(x1 - x2) < dag.NODE_W and abs(y1 - y2) < dag.NODE_H:
            clashes.append((m, n))
    return clashes


def _random_dag(n: int, seed: int = 7) -> tuple[tuple[str, tuple[str, ...]], ...]:
    rng = random.Random(seed)
    steps = []
    for i in range(n):
        ups = {f"s{rng.randrange(i)}" for _ in range(rng.randint(0, 3))} if i else set()
        steps.append((f"s{i}", tuple(sorted(ups))))
    return tuple(steps)


def test_columns_are_longest_paths_and_every_edge_points_right() -> None:
    shape = dag.layout((*DIAMOND, ("e", ("a", "d"))))
    column = {
        s: round((x - dag.MARGIN) / (dag.NODE_W + dag.GAP_X))
        for s, (x, _) in shape.positions.items()
    }
    assert column == {"a": 0, "b": 1, "c": 1, "d": 2, "e": 3}
    assert shape.columns == 4
    for _, _, points in shape.edges:
        xs = [x for x, _ in points]
        assert xs == sorted(xs)


def test_a_long_edge_is_routed_through_the_columns_it_crosses() -> None:
    shape = dag.layout((*DIAMOND, ("e", ("a", "d"))))
    routes = {(u, v): points for u, v, points in shape.edges}
    assert len(routes[("a", "b")]) == 2
    assert len(routes[("a", "e")]) == 2 + 2 * 2  # two waypoint columns, in and out of each
    assert not _overlapping(shape)
    # the waypoints keep clear of the steps of the columns they cross
    for x, y in routes[("a", "e")][1:-1]:
        for step, (sx, sy) in shape.positions.items():
            inside = sx <= x <= sx + dag.NODE_W and sy <= y <= sy + dag.NODE_H
            assert not inside, f"the edge a→e runs through {step}"


def test_barycenter_ordering_removes_avoidable_crossings() -> None:
    # in definition order b1, b2 feed c2, c1 crosswise; sorting by barycenter uncrosses them
    steps = (
        ("a1", ()),
        ("a2", ()),
        ("b1", ("a2",)),
        ("b2", ("a1",)),
    )
    shape = dag.layout(steps)
    ys = {s: y for s, (_, y) in shape.positions.items()}
    assert (ys["a1"] < ys["a2"]) == (ys["b2"] < ys["b1"])


def test_crossings_are_counted_as_inversions() -> None:
    rng = random.Random(3)
    for _ in range(50):
        values = [rng.randrange(10) for _ in range(rng.randrange(0, 30))]
        brute = sum(
            1 for i, j in itertools.combinations(range(len(values)), 2) if values[i] > values[j]
        )
        assert dag._inversions(list(values)) == brute


def test_a_150_step_dag_lays_out_quickly_without_overlaps() -> None:
    steps = _random_dag(150)
    started = time.perf_counter()
    shape = dag.layout(steps)
    assert time.perf_counter() - started < 2.0
    assert len(shape.positions) == 150
    assert not _overlapping(shape)
    edges = sum(len(ups) for _, ups in steps)
    assert len(shape.edges) == edges
    assert all(
        x1 <= x2 for _, _, pts in shape.edges for (x1, _), (x2, _) in itertools.pairwise(pts)
    )


def test_layouts_are_cached_per_version() -> None:
    steps = _random_dag(60, seed=11)
    assert dag.layout(steps) is dag.layout(tuple(steps))


def test_unknown_upstreams_and_self_references_are_ignored() -> None:
    shape = dag.layout((("a", ("ghost", "a")), ("b", ("a",))))
    assert [(u, v) for u, v, _ in shape.edges] == [("a", "b")]


def test_nodes_show_status_by_color_symbol_label_and_border() -> None:
    nodes = {
        "a": dag.NodeInfo("SUCCEEDED", "shell", "1 attempt(s)", "/runs/1/steps/a"),
        "b": dag.NodeInfo("FAILED", "shell", "2 attempt(s)", "/runs/1/steps/b"),
        "c": dag.NodeInfo("SKIPPED", "noop"),
    }
    svg = str(dag.render(dag.layout((("a", ()), ("b", ("a",)), ("c", ("a",)))), nodes, "DAG"))
    failed = re.search(r'<g class="dag-node" data-step="b" data-status="FAILED".*?</g>', svg)
    assert failed is not None
    node = failed.group(0)
    assert LOOKS["FAILED"].fill in node and "✗" in node and "failed · shell" in node
    assert 'stroke-width="3"' in node  # failures get a thick border, not only a color
    assert "<title>b · failed · shell · 2 attempt(s)</title>" in node
    assert 'href="/runs/1/steps/b"' in svg
    skipped = re.search(r'data-step="c" data-status="SKIPPED".*?</g>', svg)
    assert skipped is not None and "stroke-dasharray" in skipped.group(0)
    assert 'role="group"' in svg and 'aria-label="DAG"' in svg
    # each step's link has a name of its own (its drawing's texts are not read one by one)
    assert '<a href="/runs/1/steps/b" aria-label="b: failed, shell, 2 attempt(s)">' in svg


def test_node_text_is_escaped_and_long_ids_are_shortened() -> None:
    long_id = "a_really_long_step_identifier_of_sixty_characters_more_or_less"
    nodes = {long_id: dag.NodeInfo("RUNNING", detail="<b>&</b>")}
    svg = str(dag.render(dag.layout(((long_id, ()),)), nodes, 'run "<x>"'))
    assert "<b>" not in svg and "&lt;b&gt;&amp;&lt;/b&gt;" in svg
    assert "…" in svg and f"<title>{long_id}" in svg
    assert 'aria-label="run &#34;&lt;x&gt;&#34;"' in svg


def test_every_status_has_a_distinct_symbol_and_label() -> None:
    symbols = [lk.symbol for lk in LOOKS.values()]
    labels = [lk.label for lk in LOOKS.values()]
    assert len(set(symbols)) == len(symbols) and len(set(labels)) == len(labels)
    assert look("NOT_A_STATUS").label == "unknown"
