"""DAG checks (duplicates, unknown ids, self-dependencies, cycles, size) and the renderers."""

from __future__ import annotations

from typing import Any

from maestro.definition import Step, StepType, build_graph, parse_definition, to_dot, to_mermaid
from maestro.definition.graph import MAX_STEPS_PER_LEVEL, check_dag
from maestro.errors import Problem


def _steps(*specs: tuple[str, list[str]]) -> list[Step]:
    return [Step(id=i, type=StepType.noop, depends_on=deps) for i, deps in specs]


def _messages(problems: list[Problem]) -> list[str]:
    return [str(p) for p in problems]


def test_a_valid_dag_has_no_problems() -> None:
    steps = _steps(("a", []), ("b", ["a"]), ("c", ["a", "b"]))
    assert check_dag(steps, ("steps",)) == []


def test_unknown_dependency_suggests_a_close_id() -> None:
    steps = _steps(("load", []), ("x", []), ("y", ["lod"]))
    assert _messages(check_dag(steps, ("steps",))) == [
        "steps[2].depends_on[0]: unknown step 'lod' — did you mean 'load'?"
    ]


def test_unknown_dependency_without_a_close_id() -> None:
    steps = _steps(("load", []), ("y", ["load", "zzzz"]))
    assert _messages(check_dag(steps, ("steps",))) == [
        "steps[1].depends_on[1]: unknown step 'zzzz'"
    ]


def test_duplicate_ids_are_reported_at_the_duplicate() -> None:
    steps = _steps(("a", []), ("b", []), ("a", []))
    assert _messages(check_dag(steps, ("steps",))) == [
        "steps[2].id: duplicate step id 'a' (already used by steps[0])"
    ]


def test_self_dependency() -> None:
    steps = _steps(("a", []), ("b", ["a", "b"]))
    assert _messages(check_dag(steps, ("steps",))) == [
        "steps[1].depends_on[1]: step 'b' depends on itself"
    ]


def test_cycle_is_named_from_its_first_step() -> None:
    # b runs after a, c after b, a after c: a → b → c → a
    steps = _steps(("start", []), ("a", ["c", "start"]), ("b", ["a"]), ("c", ["b"]))
    assert _messages(check_dag(steps, ("steps",))) == ["steps[1].depends_on: cycle: a → b → c → a"]


def test_each_cycle_is_reported_once() -> None:
    steps = _steps(("a", ["b"]), ("b", ["a"]), ("c", ["d"]), ("d", ["c"]), ("e", ["a", "c"]))
    assert _messages(check_dag(steps, ("steps",))) == [
        "steps[0].depends_on: cycle: a → b → a",
        "steps[2].depends_on: cycle: c → d → c",
    ]


def test_a_long_cycle_is_shortened_in_the_message() -> None:
    n = 100
    steps = _steps(*((f"s{i}", [f"s{(i - 1) % n}"]) for i in range(n)))
    (problem,) = check_dag(steps, ("steps",))
    assert problem.msg.startswith("cycle: s0 → s1 → ")
    assert problem.msg.endswith("… → s99 → s0 (100 steps)")


def test_paths_are_relative_to_the_level() -> None:
    steps = _steps(("a", ["nope"]))
    loc = ("steps", 3, "foreach", "steps")
    assert _messages(check_dag(steps, loc)) == [
        "steps[3].foreach.steps[0].depends_on[0]: unknown step 'nope'"
    ]


def test_more_than_ten_thousand_steps_at_one_level() -> None:
    steps = _steps(*((f"s{i}", []) for i in range(MAX_STEPS_PER_LEVEL + 1)))
    assert _messages(check_dag(steps, ("steps",))) == [
        "steps: too many steps: 10001 (at most 10000 per DAG level)"
    ]


def test_ten_thousand_step_chain_is_valid() -> None:
    steps = _steps(*((f"s{i}", [f"s{i - 1}"] if i else []) for i in range(MAX_STEPS_PER_LEVEL)))
    assert check_dag(steps, ("steps",)) == []
    graph = build_graph(steps)
    assert graph.number_of_nodes() == MAX_STEPS_PER_LEVEL
    assert graph.number_of_edges() == MAX_STEPS_PER_LEVEL - 1


def test_build_graph_points_from_upstream_to_downstream() -> None:
    steps = _steps(("a", []), ("b", ["a"]), ("c", ["a", "b", "ghost", "c"]))
    graph = build_graph(steps)
    assert sorted(graph.edges) == [("a", "b"), ("a", "c"), ("b", "c")]
    assert graph.nodes["b"]["step"] is steps[1]


# --- rendering ------------------------------------------------------------------------------


def _definition() -> Any:
    return parse_definition(
        {
            "id": "render-me",
            "name": 'Say "hi"',
            "owner": "team",
            "steps": [
                {"id": "extract", "type": "shell", "shell": {"command": "true"}},
                {
                    "id": "loop",
                    "type": "foreach",
                    "depends_on": ["extract"],
                    "foreach": {
                        "items": "[1, 2]",
                        "as": "n",
                        "steps": [
                            {"id": "one", "type": "noop"},
                            {"id": "end", "type": "noop", "depends_on": ["one"]},
                        ],
                    },
                },
                {"id": "end", "type": "noop", "depends_on": ["loop"]},
            ],
        }
    )


def test_dot_draws_nodes_edges_and_foreach_clusters() -> None:
    dot = to_dot(_definition())
    assert dot.startswith('digraph "render-me" {\n')
    assert '  label="Say \\"hi\\"";' in dot
    assert '"extract" [label="extract\\n(shell)"];' in dot
    assert 'subgraph "cluster_loop/" {' in dot
    assert '"loop" [label="loop\\n(foreach)"];' in dot
    assert '"loop/one" [label="one\\n(noop)"];' in dot
    assert '"loop/one" -> "loop/end";' in dot
    assert '"loop" -> "loop/one" [style=dashed];' in dot
    assert '"extract" -> "loop";' in dot
    assert '"loop" -> "end";' in dot
    assert dot.rstrip().endswith("}")
    assert dot.count("{") == dot.count("}")


def test_mermaid_uses_generated_ids_and_quoted_labels() -> None:
    text = to_mermaid(_definition())
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    assert '  n0["extract (shell)"]' in lines
    assert '  subgraph n1_body["loop (foreach n)"]' in lines
    assert '    n1["loop (foreach)"]' in lines
    assert '    n3["one (noop)"]' in lines
    assert '    n4["end (noop)"]' in lines
    assert '  n2["end (noop)"]' in lines
    assert "    n3 --> n4" in lines
    assert "    n1 -.-> n3" in lines
    assert "  n0 --> n1" in lines
    assert "  n1 --> n2" in lines
    # "end" is a Mermaid keyword: it must never be used as a node id
    assert not any(line.strip().startswith("end ") or " end[" in line for line in lines)


def test_while_bodies_conditional_edges_and_trigger_rules_are_drawn() -> None:
    d = parse_definition(
        {
            "id": "wf",
            "owner": "o",
            "steps": [
                {"id": "count", "type": "noop"},
                {"id": "big", "type": "noop", "depends_on": [{"step": "count", "if": "n > 3"}]},
                {"id": "tidy", "type": "noop", "depends_on": ["big"], "trigger_rule": "all_done"},
                {
                    "id": "loop",
                    "type": "while",
                    "depends_on": ["tidy"],
                    "while": {
                        "condition": "i < 3",
                        "loop": {"i": 0},
                        "update": {"i": "{{ i + 1 }}"},
                        "steps": [{"id": "inner", "type": "noop"}],
                    },
                },
            ],
        }
    )
    dot = to_dot(d)
    assert '"count" -> "big" [label="if n > 3", style=dashed];' in dot
    assert '"tidy" [label="tidy\\n(noop, all_done)"];' in dot
    assert 'label="loop (while i < 3)";' in dot and '"loop" -> "loop/inner" [style=dashed];' in dot
    mermaid = to_mermaid(d)
    assert 'n0 -.->|"if n > 3"| n1' in mermaid
    assert 'subgraph n3_body["loop (while i < 3)"]' in mermaid and "n3 -.-> n4" in mermaid
    assert '"big (noop)"' in mermaid  # a conditional edge's default rule (any_taken) not shown
