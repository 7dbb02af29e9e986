"""Pictures of a definition's DAG as Graphviz DOT and Mermaid text, for docs, CLI and UI.

Each step is a node labelled with its id and type; a foreach or while step is drawn inside a
cluster (DOT) or subgraph (Mermaid) holding its body, with dashed edges to the body's roots; a
conditional edge carries its condition, and a step's trigger rule other than all_success shows
under its type. Node names are derived from step paths (a body is its own id namespace) and
every label is quoted.
"""

from __future__ import annotations

from collections.abc import Sequence

from maestro.definition.models import Step, WorkflowDefinition


def _dot_quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _kind(step: Step) -> str:
    """The step's type, with its trigger rule when it is not the default."""
    rule = step.trigger_rule.value
    default = "any_taken" if step.edge_conditions else "all_success"
    return f"{step.type}" if rule == default else f"{step.type}, {rule}"


def _short(text: str) -> str:
    """An expression on one line, cut short: a label, not the source."""
    line = " ".join(text.split())
    return line if len(line) <= 48 else line[:47] + "…"


def _body_title(step: Step) -> str:
    if step.foreach is not None:
        return f"{step.id} (foreach {step.foreach.as_})"
    assert step.while_ is not None
    return f"{step.id} (while {_short(step.while_.condition)})"


def _dot_level(steps: Sequence[Step], prefix: str, indent: str) -> list[str]:
    lines: list[str] = []
    edges: list[str] = []
    for step in steps:
        node = _dot_quote(prefix + step.id)
        label = _dot_quote(f"{step.id}\n({_kind(step)})")
        if step.body is None:
            lines.append(f"{indent}{node} [label={label}];")
        else:
            lines.extend(_dot_body(step, prefix, indent))
        conditions = step.edge_conditions
        for up in step.upstreams:
            edge = f"{indent}{_dot_quote(prefix + up)} -> {node}"
            if up in conditions:
                edge += f" [label={_dot_quote('if ' + _short(conditions[up]))}, style=dashed]"
            edges.append(edge + ";")
    return lines + edges


def _dot_body(step: Step, prefix: str, indent: str) -> list[str]:
    assert step.body is not None
    path = f"{prefix}{step.id}/"
    node = _dot_quote(prefix + step.id)
    lines = [
        f"{indent}subgraph {_dot_quote('cluster_' + path)} {{",
        f"{indent}  label={_dot_quote(_body_title(step))};",
        f"{indent}  style=dashed;",
        f"{indent}  {node} [label={_dot_quote(f'{step.id}' + chr(10) + f'({_kind(step)})')}];",
        *_dot_level(step.body, path, indent + "  "),
    ]
    for inner in step.body:
        if not inner.upstreams:
            lines.append(f"{indent}  {node} -> {_dot_quote(path + inner.id)} [style=dashed];")
    lines.append(f"{indent}}}")
    return lines


def to_dot(defn: WorkflowDefinition) -> str:
    """The DAG as a Graphviz ``digraph`` (render with ``dot -Tsvg``)."""
    lines = [
        f"digraph {_dot_quote(defn.id)} {{",
        f"  label={_dot_quote(defn.display_name)};",
        "  rankdir=LR;",
        "  node [shape=box, style=rounded];",
        *_dot_level(defn.steps, "", "  "),
        "}",
    ]
    return "\n".join(lines) + "\n"


class _Mermaid:
    """Mermaid ids are generated (``n0``, ``n1``…): step ids such as ``end`` are keywords there."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}

    def node_id(self, path: str) -> str:
        return self.ids.setdefault(path, f"n{len(self.ids)}")

    @staticmethod
    def label(text: str) -> str:
        return '"' + text.replace("&", "#amp;").replace('"', "#quot;") + '"'

    def level(self, steps: Sequence[Step], prefix: str, indent: str) -> list[str]:
        for step in steps:  # number nodes in document order before drawing edges
            self.node_id(prefix + step.id)
        lines: list[str] = []
        for step in steps:
            node = self.node_id(prefix + step.id)
            label = self.label(f"{step.id} ({_kind(step)})")
            if step.body is None:
                lines.append(f"{indent}{node}[{label}]")
            else:
                lines.extend(self.body(step, prefix, indent))
        for step in steps:
            node = self.node_id(prefix + step.id)
            conditions = step.edge_conditions
            for up in step.upstreams:
                arrow = (
                    f"-.->|{self.label('if ' + _short(conditions[up]))}|"
                    if up in conditions
                    else "-->"
                )
                lines.append(f"{indent}{self.node_id(prefix + up)} {arrow} {node}")
        return lines

    def body(self, step: Step, prefix: str, indent: str) -> list[str]:
        assert step.body is not None
        path = f"{prefix}{step.id}/"
        node = self.node_id(prefix + step.id)
        title = self.label(_body_title(step))
        lines = [
            f"{indent}subgraph {node}_body[{title}]",
            f"{indent}  {node}[{self.label(f'{step.id} ({_kind(step)})')}]",
            *self.level(step.body, path, indent + "  "),
        ]
        for inner in step.body:
            if not inner.upstreams:
                lines.append(f"{indent}  {node} -.-> {self.node_id(path + inner.id)}")
        lines.append(f"{indent}end")
        return lines


def to_mermaid(defn: WorkflowDefinition) -> str:
    """The DAG as a Mermaid ``flowchart`` (renders in GitHub markdown and the web UI)."""
    lines = ["flowchart LR", *_Mermaid().level(defn.steps, "", "  ")]
    return "\n".join(lines) + "\n"
