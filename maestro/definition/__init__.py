"""Workflow definitions: the YAML/JSON contract as validated, immutable models.

``load_definition`` reads text, ``parse_definition`` reads data; both raise only
``DefinitionError``, listing every problem with its path. The rest of the control plane works
with ``WorkflowDefinition`` and never with raw YAML.
"""

from __future__ import annotations

from maestro.definition.durations import format_duration, parse_duration
from maestro.definition.graph import build_graph
from maestro.definition.loader import (
    content_hash,
    definition_to_dict,
    load_definition,
    parse_definition,
)
from maestro.definition.models import (
    Backoff,
    OnFailure,
    ParamSpec,
    RetryPolicy,
    Step,
    StepType,
    TriggerRule,
    WorkflowDefinition,
)
from maestro.definition.params import resolve_params
from maestro.definition.render import to_dot, to_mermaid

__all__ = [
    "Backoff",
    "OnFailure",
    "ParamSpec",
    "RetryPolicy",
    "Step",
    "StepType",
    "TriggerRule",
    "WorkflowDefinition",
    "build_graph",
    "content_hash",
    "definition_to_dict",
    "format_duration",
    "load_definition",
    "parse_definition",
    "parse_duration",
    "resolve_params",
    "to_dot",
    "to_mermaid",
]
