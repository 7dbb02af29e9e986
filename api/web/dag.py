"""The DAG of a run drawn as SVG on the server: a layered layout that stays readable with
hundreds of steps.

Layout (Sugiyama-style, kept small):

1. layers: a step's column is the longest path to it from a root (``networkx``'s topological
   generations), so every edge points right;
2. an edge that spans several columns gets an invisible waypoint in each column it crosses,
   so that it is routed around the steps instead of through them;
3. order within a column: barycenter sweeps (each node moves to the mean position of its
   neighbours in the previous, then the next, column), keeping the ordering with the fewest
   crossings seen;
4. columns are centred vertically; edges are drawn as curves through their waypoints.

A layout depends on the version's steps only, never on statuses, so it is computed once per
version (``layout`` is cached). Nodes carry their status as a fill color *and* a symbol, a
label and a border style (thick for failures, dashed for steps that did not run), so the
drawing reads without color. Each edge names its ends (``data-from``, ``data-to``): the page's
script (``static/dag.js``) walks them to light up a step's upstream and downstream, and pans
and zooms the ``dag-view`` group.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import networkx as nx
from markupsafe import Markup, escape

from api.web.status import BAD, DEFINED, look

NODE_W, NODE_H = 190, 42
GAP_X, GAP_Y = 56, 14
MARGIN = 12
#: most waypoints added for long edges (beyond, long edges are drawn straight)
MAX_WAYPOINTS = 20_000
#: barycenter sweeps (each one down the columns and back up)
SWEEPS = 6
#: most steps drawn; a larger DAG is listed in the step table only
MAX_DRAWN = 3000
#: characters of a step id that fit in a node (the full id is in the node's tooltip)
MAX_LABEL = 22

Point = tuple[float, float]
StepSpec = tuple[str, tuple[str, ...]]


@dataclass(frozen=True)
class Layout:
    """Where each step goes (top-left corner) and the path of each edge."""

    positions: Mapping[str, Point]
    edges: tuple[tuple[str, str, tuple[Point, ...]], ...]
    width: float
    height: float
    columns: int


@dataclass(frozen=True)
class NodeInfo:
    """What a node shows: the step's status, type, a tooltip detail and a link."""

    status: str
    kind: str = ""
    detail: str = ""
    href: str | None = None


# -- layout ------------------------------------------------------------------------------------


def _graph(steps: Sequence[StepSpec]) -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_nodes_from(step_id for step_id, _ in steps)
    for step_id, upstreams in steps:
        for upstream in upstreams:
            if upstream in graph and upstream != step_id:
                graph.add_edge(upstream, step_id)
    return graph


Chains = dict[tuple[str, str], list[str]]


def _waypoints(
    graph: nx.DiGraph, layer: dict[str, int]
) -> tuple[nx.DiGraph, dict[str, int], Chains]:
    """The graph with every edge cut into one-column hops by waypoint nodes (``\\0`` names
    cannot clash with step ids), the layers with the waypoints', and each edge's waypoints."""
    span = sum(max(0, layer[v] - layer[u] - 1) for u, v in graph.edges)
    if span > MAX_WAYPOINTS:
        return graph, layer, {}
    hops = nx.DiGraph()
    hops.add_nodes_from(graph.nodes)
    layers = dict(layer)
    chains: Chains = {}
    for u, v in graph.edges:
        chain = [f"\0{u}\0{v}\0{column}" for column in range(layer[u] + 1, layer[v])]
        for point, column in zip(chain, range(layer[u] + 1, layer[v]), strict=True):
            layers[point] = column
        nx.add_path(hops, [u, *chain, v])
        chains[(u, v)] = chain
    return hops, layers, chains


def _crossings(graph: nx.DiGraph, upper: list[str], lower: list[str]) -> int:
    """Edge crossings between two adjacent columns: inversions of the lower ends when the
    edges are sorted by their upper ends (merge-sort count, O(E log E))."""
    where = {n: i for i, n in enumerate(lower)}
    ends = [where[v] for u in upper for v in sorted(graph.successors(u), key=where.__getitem__)]
    return _inversions(ends)


def _inversions(values: list[int]) -> int:
    if len(values) < 2:
        return 0
    middle = len(values) // 2
    left, right = values[:middle], values[middle:]
    count = _inversions(left) + _inversions(right)
    merged: list[int] = []
    i = j = 0
    while i < len(left) and j < len(right):
        if left[i] <= right[j]:
            merged.append(left[i])
            i += 1
        else:
            merged.append(right[j])
            count += len(left) - i
            j += 1
    merged.extend(left[i:])
    merged.extend(right[j:])
    values[:] = merged
    return count


def _total_crossings(graph: nx.DiGraph, columns: list[list[str]]) -> int:
    return sum(_crossings(graph, a, b) for a, b in itertools.pairwise(columns))


def _sweep(graph: nx.DiGraph, columns: list[list[str]], downwards: bool) -> None:
    """Reorder each column by the barycenters of its neighbours in the column before it."""
    order = range(1, len(columns)) if downwards else range(len(columns) - 2, -1, -1)
    for c in order:
        fixed = columns[c - 1] if downwards else columns[c + 1]
        where = {n: i for i, n in enumerate(fixed)}
        current = {n: i for i, n in enumerate(columns[c])}

        def barycenter(
            node: str, where: dict[str, int] = where, current: dict[str, int] = current
        ) -> float:
            near = graph.predecessors(node) if downwards else graph.successors(node)
            found = [where[m] for m in near if m in where]
            return sum(found) / len(found) if found else float(current[node])

        columns[c].sort(key=barycenter)


def _ordered_columns(
    graph: nx.DiGraph, layer: dict[str, int], rank: dict[str, float]
) -> list[list[str]]:
    columns: list[list[str]] = [[] for _ in range(max(layer.values(), default=-1) + 1)]
    for node in sorted(graph.nodes, key=lambda n: rank[n]):
        columns[layer[node]].append(node)
    best, fewest = [list(c) for c in columns], _total_crossings(graph, columns)
    for _ in range(SWEEPS):
        if fewest == 0:
            break
        for downwards in (True, False):
            _sweep(graph, columns, downwards)
            crossings = _total_crossings(graph, columns)
            if crossings < fewest:
                best, fewest = [list(c) for c in columns], crossings
    return best


def _initial_rank(graph: nx.DiGraph, order: dict[str, int]) -> dict[str, float]:
    """Definition order for steps; a waypoint sits just after the step its edge comes from."""
    rank: dict[str, float] = {}
    for node in graph.nodes:
        if node.startswith("\0"):
            rank[node] = order[node.split("\0")[1]] + 0.5
        else:
            rank[node] = float(order[node])
    return rank


@functools.lru_cache(maxsize=64)
def layout(steps: tuple[StepSpec, ...]) -> Layout:
    """The layout of steps given as ``(id, depends_on)`` in definition order."""
    graph = _graph(steps)
    layer = {
        node: i
        for i, generation in enumerate(nx.topological_generations(graph))
        for node in generation
    }
    hops, layers, chains = _waypoints(graph, layer)
    order = {step_id: i for i, (step_id, _) in enumerate(steps)}
    columns = _ordered_columns(hops, layers, _initial_rank(hops, order))
    tallest = max((len(c) for c in columns), default=0)
    slot = NODE_H + GAP_Y
    centres: dict[str, Point] = {}
    for c, column in enumerate(columns):
        top = MARGIN + (tallest - len(column)) * slot / 2
        for i, node in enumerate(column):
            centres[node] = (MARGIN + c * (NODE_W + GAP_X), top + i * slot)
    positions = {n: p for n, p in centres.items() if not n.startswith("\0")}
    return Layout(
        positions=positions,
        edges=tuple(_routes(graph, chains, centres)),
        width=2 * MARGIN + max(0, len(columns) * (NODE_W + GAP_X) - GAP_X),
        height=2 * MARGIN + max(0, tallest * slot - GAP_Y),
        columns=len(columns),
    )


def _routes(
    graph: nx.DiGraph, chains: Chains, corners: Mapping[str, Point]
) -> list[tuple[str, str, tuple[Point, ...]]]:
    """Each edge as the points it passes: out of the upstream's right side, across the
    columns of its waypoints, into the downstream's left side."""
    routes = []
    for u, v in graph.edges:
        ux, uy = corners[u]
        points: list[Point] = [(ux + NODE_W, uy + NODE_H / 2)]
        for waypoint in chains.get((u, v), ()):
            wx, wy = corners[waypoint]
            points += [(wx, wy + NODE_H / 2), (wx + NODE_W, wy + NODE_H / 2)]
        vx, vy = corners[v]
        points.append((vx, vy + NODE_H / 2))
        routes.append((u, v, tuple(points)))
    return routes


# -- drawing -----------------------------------------------------------------------------------


def _path(points: Sequence[Point]) -> str:
    """Curves across the gaps between columns, straight lines along waypoint columns."""
    (x, y), rest = points[0], points[1:]
    parts = [f"M{x:.0f},{y:.0f}"]
    for i, (nx_, ny) in enumerate(rest):
        if i % 2 == 0:  # a gap between two columns
            bend = (nx_ - x) / 2
            parts.append(f"C{x + bend:.0f},{y:.0f} {nx_ - bend:.0f},{ny:.0f} {nx_:.0f},{ny:.0f}")
        else:  # through a column, level
            parts.append(f"L{nx_:.0f},{ny:.0f}")
        x, y = nx_, ny
    return " ".join(parts)


def _short(text: str, size: int = MAX_LABEL) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def _node(step_id: str, corner: Point, info: NodeInfo) -> str:
    lk = look(info.status)
    x, y = corner
    bad = info.status in BAD
    stroke = "#1f2328" if bad else "#57606a"
    width = 3 if bad else 1
    dash = ' stroke-dasharray="5 3"' if info.status in ("PENDING", "SKIPPED", "NOT_CREATED") else ""
    text_x = 28 if lk.symbol else 10
    title = " · ".join(p for p in (step_id, lk.label, info.kind, info.detail) if p)
    meta = " · ".join(p for p in (lk.label, info.kind) if p)
    name = escape(
        ": ".join((step_id, ", ".join(p for p in (lk.label, info.kind, info.detail) if p)))
    )
    # a link is named by its aria-label; a step without one is an image with that name
    role = "" if info.href else f' role="img" aria-label="{name}"'
    body = (
        f'<g class="dag-node" data-step="{escape(step_id)}" data-status="{escape(info.status)}"'
        f' transform="translate({x:.0f},{y:.0f})"{role}>'
        f"<title>{escape(title)}</title>"
        f'<rect width="{NODE_W}" height="{NODE_H}" rx="6" fill="{lk.fill}" stroke="{stroke}"'
        f' stroke-width="{width}"{dash}/>'
        f'<text x="10" y="18" class="sym" fill="{lk.text}">{escape(lk.symbol)}</text>'
        f'<text x="{text_x}" y="18" class="id" fill="{lk.text}">{escape(_short(step_id))}</text>'
        f'<text x="{text_x}" y="34" class="meta" fill="{lk.text}">{escape(_short(meta, 28))}'
        "</text>"
        "</g>"
    )
    if info.href:
        return f'<a href="{escape(info.href)}" aria-label="{name}">{body}</a>'
    return body


def render(shape: Layout, nodes: Mapping[str, NodeInfo], label: str) -> Markup:
    """The SVG document of ``shape`` with each step drawn per ``nodes`` (a step missing
    there is drawn as unknown)."""
    edges = "".join(
        f'<path d="{_path(points)}" data-edge="{escape(u)}-&gt;{escape(v)}"'
        f' data-from="{escape(u)}" data-to="{escape(v)}"/>'
        for u, v, points in shape.edges
    )
    drawn = "".join(
        _node(step_id, corner, nodes.get(step_id, NodeInfo("UNKNOWN")))
        for step_id, corner in shape.positions.items()
    )
    width, height = max(shape.width, 1), max(shape.height, 1)
    return Markup(
        # a group, not an image: an image's children (the steps' links) are hidden from
        # screen readers; each step carries its own accessible name instead
        f'<svg class="dag" xmlns="http://www.w3.org/2000/svg" role="group"'
        f' aria-label="{escape(label)}" width="{width:.0f}" height="{height:.0f}"'
        f' viewBox="0 0 {width:.0f} {height:.0f}">'
        '<defs><marker id="arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7"'
        ' markerHeight="7" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#8c959f"/>'
        "</marker></defs>"
        # the view the reader pans and zooms (``static/dag.js`` sets its transform)
        '<g class="dag-view">'
        f'<g class="edges" fill="none" stroke="#8c959f" stroke-width="1.4"'
        f' marker-end="url(#arrow)" aria-hidden="true">{edges}</g>'
        f'<g class="nodes">{drawn}</g></g></svg>'
    )


#: the page CSS that the drawing needs, inlined for an SVG file that stands alone
_STANDALONE_STYLE = (
    "<style>svg.dag text{font-family:system-ui,sans-serif;font-size:12px}"
    "svg.dag text.id{font-weight:600;font-family:ui-monospace,'DejaVu Sans Mono',monospace}"
    "svg.dag text.meta{font-size:10.5px}svg.dag text.sym{font-size:13px;font-weight:700}"
    "</style>"
)


def definition_svg(steps: Sequence[tuple[str, Sequence[str], str]], label: str) -> str:
    """A workflow definition's DAG as an SVG file (``maestro graph --format svg``): the same
    layout and nodes as the run page, each node showing its step type instead of a status.
    ``steps`` are (step id, its dependencies, its type)."""
    specs = tuple((step_id, tuple(deps)) for step_id, deps, _ in steps)
    nodes = {step_id: NodeInfo(DEFINED, kind=kind) for step_id, _, kind in steps}
    svg = str(render(layout(specs), nodes, label))
    head, sep, rest = svg.partition("<defs>")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{head}{_STANDALONE_STYLE}{sep}{rest}\n'
