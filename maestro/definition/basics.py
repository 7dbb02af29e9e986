"""The building blocks of definition models: ids and names, the enums, the base model and the
small validated scalars every part uses."""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
)

from maestro.definition.durations import Duration

#: Maestro's ids (``job.1``, ``sub-step1``) are valid as written; at most 64 characters, the
#: width of the ``step_runs.step_id`` column (the contract allows 128: a migration would be
#: needed for more)
STEP_ID_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$"
STEP_ID_RE = re.compile(STEP_ID_PATTERN)
WORKFLOW_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
IDENTIFIER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
CONNECTION_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
CALLABLE_RE = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")


class StepType(StrEnum):
    """What a step does; each type except noop has settings under a key of the same name."""

    noop = "noop"  # succeeds at once (a join point, or a carrier for wait_for/emit)
    sleep = "sleep"  # waits for a duration
    shell = "shell"  # runs a command
    python = "python"  # calls package.module:function
    spark = "spark"  # submits a Spark application
    sql = "sql"  # runs SQL on a named connection
    stream = "stream"  # launches and supervises a streaming job
    http = "http"  # sends one HTTP request
    notebook = "notebook"  # runs a Jupyter notebook with papermill
    foreach = "foreach"  # runs an inner DAG once per item
    subworkflow = "subworkflow"  # starts a run of another workflow
    while_ = "while"  # runs an inner DAG while a condition holds


class TriggerRule(StrEnum):
    """When a step may run, given how its upstreams ended."""

    all_success = "all_success"  # every upstream ok
    all_done = "all_done"  # always, once upstreams ended
    one_failed = "one_failed"  # at least one upstream failed
    none_failed = "none_failed"  # no upstream failed (skips allowed)
    #: at least one incoming edge taken (the default of a step with a conditional edge)
    any_taken = "any_taken"


class OnFailure(StrEnum):
    """What a step's failure does to the run."""

    fail_run = "fail_run"  # fail the run now; start nothing more
    finish_running = "finish_running"  # the rest of the DAG carries on
    ignore = "ignore"  # FAILED_IGNORED, counts as success downstream


class Backoff(StrEnum):
    """How the wait between attempts grows."""

    fixed = "fixed"  # always ``delay``
    exponential = "exponential"  # min(delay * 2**(n-1), max_delay)


class ParamType(StrEnum):
    """The declared type of a run param; values are coerced to it."""

    string = "string"
    int = "int"
    float = "float"
    bool = "bool"
    date = "date"  # YYYY-MM-DD
    datetime = "datetime"  # ISO 8601 with timezone
    list = "list"
    map = "map"


class RunStrategyKind(StrEnum):
    """How concurrent runs of one workflow behave."""

    sequential = "sequential"  # one at a time, in order
    strict_sequential = "strict_sequential"  # like sequential; a failure blocks the queue
    first_only = "first_only"  # a new run is dropped while one is active
    last_only = "last_only"  # a new run stops the active one
    parallel = "parallel"  # up to max_concurrency at once


class StreamMode(StrEnum):
    """Whether a stream job drains what is available or runs until stopped."""

    bounded = "bounded"
    continuous = "continuous"


class _Model(BaseModel):
    """Base of every definition model: unknown keys are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------------------------------------
# small validated scalars


def _check_step_id(value: str) -> str:
    if not STEP_ID_RE.match(value):
        raise ValueError(
            f"invalid step id {value!r}: use letters, digits, '_', '.' and '-' (at most 64), "
            "starting with a letter or '_'"
        )
    return value


def _check_workflow_id(value: str) -> str:
    if not WORKFLOW_ID_RE.match(value):
        raise ValueError(
            f"invalid workflow id {value!r}: use letters, digits, '.', '_' and '-' "
            "(at most 128), starting with a letter or digit"
        )
    return value


def _check_identifier(value: str) -> str:
    if not IDENTIFIER_RE.match(value):
        raise ValueError(
            f"invalid name {value!r}: use letters, digits and _, not starting with a digit"
        )
    return value


def _check_env_name(value: str) -> str:
    if not IDENTIFIER_RE.match(value):
        raise ValueError(f"invalid environment variable name {value!r}")
    return value


def _check_connection_name(value: str) -> str:
    if not CONNECTION_NAME_RE.match(value):
        raise ValueError(
            f"invalid connection name {value!r}: use letters, digits, '_' and '-' (at most 64)"
        )
    return value


#: comparisons a signal ``match`` value may make: ``{ds: {">=": "2024-05-01"}}``
MATCH_OPERATORS = ("=", "!=", ">", ">=", "<", "<=")


def _check_match(value: dict[str, Any]) -> dict[str, Any]:
    """A map of one operator-like key (``=>``, ``==``) must name a known operator."""
    for field, want in value.items():
        if isinstance(want, dict) and len(want) > 1:
            ops = [op for op in want if op in MATCH_OPERATORS]
            if ops:
                raise ValueError(f"{field}: one operator per field, got {' '.join(map(str, ops))}")
        if isinstance(want, dict) and len(want) == 1:
            (op,) = want
            if isinstance(op, str) and op and set(op) <= set("=!<>") and op not in MATCH_OPERATORS:
                known = " ".join(MATCH_OPERATORS)
                raise ValueError(f"{field}: unknown operator {op!r}: use one of {known}")
    return value


#: a signal ``match``: payload fields and the values (or comparisons) they must fit
SignalMatch = Annotated[dict[str, Any], AfterValidator(_check_match)]


def _check_not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _check_positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than 0s")
    return value


def _scalar_to_str(value: Any) -> Any:
    """YAML turns ``4`` and ``true`` into numbers and booleans; env, conf and args want text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _str_to_list(value: Any) -> Any:
    """``depends_on: extract`` is read as ``[extract]``."""
    return [value] if isinstance(value, str) else value


StepId = Annotated[str, AfterValidator(_check_step_id)]
Identifier = Annotated[str, AfterValidator(_check_identifier)]
EnvName = Annotated[str, AfterValidator(_check_env_name)]
NonBlank = Annotated[str, AfterValidator(_check_not_blank)]
ConnectionName = Annotated[str, AfterValidator(_check_connection_name)]
#: the most iterations one foreach step may start
MAX_FOREACH_ITEMS = 25_000
Text = Annotated[str, BeforeValidator(_scalar_to_str)]
PositiveDuration = Annotated[Duration, AfterValidator(_check_positive)]
