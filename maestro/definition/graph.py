"""The DAG of one level of steps: its graph, and the checks that make it a valid DAG.

A definition's steps form a DAG per level (the top level, and each foreach body on its own).
The checks report problems with the user's paths instead of raising at the first one, and run
in linear time: a 10,000-step level must validate in well under a second.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import networkx as nx

from maestro.definition.models import Step
from maestro.errors import Loc, Problem, format_loc

#: most steps in one DAG level (the top level or one foreach body)
MAX_STEPS_PER_LEVEL = 10_000

#: unknown references that get a did-you-mean; beyond this the suggestion search would be
#: quadratic in the number of steps
_MAX_SUGGESTIONS = 50
#: steps of a cycle named in full in its message
_MAX_CYCLE_SHOWN = 20


@dataclass(frozen=True)
class Node:
    """What the checks need of a step: where it is, its id and its upstream ids."""

    index: int
    id: str
    depends_on: tuple[str, ...]


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """`` — did you mean 'x'?`` when a candidate is close to ``word``, else an empty string."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" — did you mean '{close[0]}'?" if close else ""


def build_graph(steps: Sequence[Step]) -> nx.DiGraph:
    """The steps as a graph with an edge from each upstream to its downstream.

    Nodes are step ids and carry the step as ``step``; references to unknown ids and
    self-references are left out (``check_dag`` reports them).
    """
    graph = nx.DiGraph()
    for step in steps:
        graph.add_node(step.id, step=step)
    for step in steps:
        for upstream in step.upstreams:
            if upstream != step.id and upstream in graph:
                graph.add_edge(upstream, step.id)
    return graph


def check_dag(steps: Sequence[Step], loc: Loc) -> list[Problem]:
    """Problems of one DAG level whose step list is at ``loc`` (e.g. ``("steps",)``)."""
    return check_nodes([Node(i, s.id, tuple(s.upstreams)) for i, s in enumerate(steps)], loc)


def check_nodes(nodes: Sequence[Node], loc: Loc) -> list[Problem]:
    """``check_dag`` on bare nodes, so that a definition that failed validation is checked too."""
    problems: list[Problem] = []
    count = max((n.index for n in nodes), default=-1) + 1
    if count > MAX_STEPS_PER_LEVEL:
        problems.append(
            Problem(loc, f"too many steps: {count} (at most {MAX_STEPS_PER_LEVEL} per DAG level)")
        )
    first = _first_positions(nodes, loc, problems)
    problems.extend(_reference_problems(nodes, first, loc))
    problems.extend(_cycle_problems(nodes, first, loc))
    return problems


def _first_positions(nodes: Sequence[Node], loc: Loc, problems: list[Problem]) -> dict[str, int]:
    """Map each id to the index of its first step; report later duplicates."""
    first: dict[str, int] = {}
    for node in nodes:
        if node.id in first:
            where = format_index(loc, first[node.id])
            problems.append(
                Problem(
                    (*loc, node.index, "id"),
                    f"duplicate step id '{node.id}' (already used by {where})",
                )
            )
        else:
            first[node.id] = node.index
    return first


def format_index(loc: Loc, index: int) -> str:
    """``steps[3]``: how a message points at another step of the same level."""
    return format_loc((*loc, index))


def _reference_problems(nodes: Sequence[Node], first: dict[str, int], loc: Loc) -> list[Problem]:
    problems: list[Problem] = []
    suggested = 0
    for node in nodes:
        for k, upstream in enumerate(node.depends_on):
            where = (*loc, node.index, "depends_on", k)
            if upstream == node.id:
                problems.append(Problem(where, f"step '{node.id}' depends on itself"))
            elif upstream not in first:
                hint = did_you_mean(upstream, first) if suggested < _MAX_SUGGESTIONS else ""
                suggested += 1
                problems.append(Problem(where, f"unknown step '{upstream}'{hint}"))
    return problems


def _cycle_problems(nodes: Sequence[Node], first: dict[str, int], loc: Loc) -> list[Problem]:
    """One problem per strongly connected component: the cycle through its earliest step."""
    graph = nx.DiGraph()
    graph.add_nodes_from(first)
    for node in nodes:
        for upstream in node.depends_on:
            if upstream != node.id and upstream in first:
                graph.add_edge(upstream, node.id)
    if nx.is_directed_acyclic_graph(graph):
        return []
    problems: list[Problem] = []
    for component in nx.strongly_connected_components(graph):
        if len(component) < 2:
            continue
        start = min(component, key=first.__getitem__)
        cycle = _cycle_from(graph.subgraph(component), start)
        problems.append(Problem((*loc, first[start], "depends_on"), f"cycle: {_cycle_text(cycle)}"))
    return sorted(problems, key=lambda p: p.loc)


def _cycle_text(cycle: list[str]) -> str:
    """``a → b → c → a``; a long cycle shows its first and last steps and its length."""
    shown = [*cycle, cycle[0]]
    if len(cycle) > _MAX_CYCLE_SHOWN:
        shown = [*cycle[: _MAX_CYCLE_SHOWN - 2], "…", cycle[-1], cycle[0]]
        return " → ".join(shown) + f" ({len(cycle)} steps)"
    return " → ".join(shown)


def _cycle_from(component: nx.DiGraph, start: str) -> list[str]:
    """A simple cycle through ``start`` inside its strongly connected component."""
    successor = next(iter(component.successors(start)))
    back = nx.shortest_path(component, successor, start)
    return [start, *(str(n) for n in back[:-1])]
