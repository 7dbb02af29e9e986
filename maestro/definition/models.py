"""The workflow definition as pydantic models: the YAML contract of spec/workflow.md in code.

Every model refuses unknown keys and is frozen: a definition is an immutable version once
submitted, and a typo in a hand-written YAML file must be an error rather than a silently
ignored key. Validation here is per-field and per-model; checks that need the whole document
(the DAG, expressions, defaults merging) live in ``loader.py`` and ``graph.py``.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal, cast

from croniter import croniter
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    SerializerFunctionWrapHandler,
    Tag,
    create_model,
    model_serializer,
    model_validator,
)

from maestro.definition.durations import Duration, TemplatedDuration

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


class TriggerRule(StrEnum):
    """When a step may run, given how its upstreams ended."""

    all_success = "all_success"  # every upstream ok
    all_done = "all_done"  # always, once upstreams ended
    one_failed = "one_failed"  # at least one upstream failed
    none_failed = "none_failed"  # no upstream failed (skips allowed)


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


# ---------------------------------------------------------------------------------------------
# params, triggers, run strategy


class ParamSpec(_Model):
    """A typed run param. Without ``default`` the param is required at start."""

    type: ParamType = ParamType.string
    default: Any = None
    description: str = ""

    @property
    def required(self) -> bool:
        """True when the definition gives no default (``default: null`` is a given default)."""
        return "default" not in self.model_fields_set

    @model_serializer(mode="wrap")
    def _omit_unset_default(self, handler: SerializerFunctionWrapHandler) -> Any:
        # A dumped required param must stay required when parsed again.
        data = handler(self)
        if isinstance(data, dict) and self.required:
            data.pop("default", None)
        return data


def _check_cron(value: str) -> str:
    try:
        valid = bool(croniter.is_valid(value))
    except Exception:  # croniter may raise on odd input instead of answering False
        valid = False
    if not valid:
        raise ValueError(f"invalid cron expression {value!r}")
    return value


def _check_timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except Exception:  # not found, or not a valid key at all
        msg = f"unknown timezone {value!r}: use an IANA name such as Europe/Paris"
        raise ValueError(msg) from None
    return value


class CronTrigger(_Model):
    """Start a run on every tick of a cron expression, in a timezone."""

    cron: Annotated[str, AfterValidator(_check_cron)]
    timezone: Annotated[str, AfterValidator(_check_timezone)] = "UTC"
    catchup: bool = False
    params: dict[str, Any] = Field(default_factory=dict)


class SignalTrigger(_Model):
    """Start a run when a signal arrives whose payload matches ``match``.

    ``from``: the owners whose signals may start it besides the workflow's own owner (``"*"``:
    anyone). A signal acts for the owners its sender may act for: a token's owners, an
    emitting workflow's owner; an admin token, no tokens (standalone) and the platform act for
    every owner."""

    model_config = ConfigDict(populate_by_name=True)

    signal: NonBlank
    match: dict[str, Any] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    from_: list[NonBlank] = Field(default_factory=list, alias="from")


def _check_trigger_keys(value: Any) -> Any:
    if isinstance(value, dict):
        has_cron, has_signal = "cron" in value, "signal" in value
        if has_cron and has_signal:
            raise ValueError("a trigger has either 'cron' or 'signal', not both")
        if not (has_cron or has_signal):
            raise ValueError("a trigger needs a 'cron' or a 'signal' key")
    elif not isinstance(value, CronTrigger | SignalTrigger):
        raise ValueError("a trigger must be a mapping with a 'cron' or a 'signal' key")
    return value


def _trigger_kind(value: Any) -> str | None:
    if isinstance(value, CronTrigger):
        return "cron"
    if isinstance(value, SignalTrigger):
        return "signal"
    if isinstance(value, dict):
        return "cron" if "cron" in value else "signal"
    return None


Trigger = Annotated[
    Annotated[CronTrigger, Tag("cron")] | Annotated[SignalTrigger, Tag("signal")],
    Discriminator(_trigger_kind),
    BeforeValidator(_check_trigger_keys),
]

#: ``max_concurrency`` of a parallel strategy that does not give one.
DEFAULT_PARALLEL_CONCURRENCY = 20


class RunStrategy(_Model):
    """How concurrent runs behave. ``max_concurrency`` only applies to ``parallel``.

    Written as a bare kind (``run_strategy: parallel``) or a map. A parallel strategy without
    ``max_concurrency`` gets 20 (the spec's example); other kinds keep 1 and refuse any other
    value, since a number there is a sign the user meant ``parallel``.
    """

    kind: RunStrategyKind = RunStrategyKind.sequential
    max_concurrency: int = Field(default=1, ge=1, le=1000)

    @model_validator(mode="before")
    @classmethod
    def _parallel_default(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("kind") == "parallel":
            data = {"max_concurrency": DEFAULT_PARALLEL_CONCURRENCY, **data}
        return data

    @model_validator(mode="after")
    def _concurrency_only_for_parallel(self) -> RunStrategy:
        if self.kind is not RunStrategyKind.parallel and self.max_concurrency != 1:
            raise ValueError(
                f"max_concurrency applies only to kind 'parallel' (kind is '{self.kind}')"
            )
        return self


def _strategy_from_str(value: Any) -> Any:
    return {"kind": value} if isinstance(value, str) else value


# ---------------------------------------------------------------------------------------------
# step parts


class RetryPolicy(_Model):
    """How often a failed attempt is retried and how long to wait between attempts."""

    limit: int = Field(default=0, ge=0, le=99)
    backoff: Backoff = Backoff.fixed
    delay: Duration = timedelta(seconds=10)
    max_delay: Duration = timedelta(hours=1)
    on_timeout: bool = False


class WaitFor(_Model):
    """A signal the step waits for before it may start."""

    signal: NonBlank
    match: dict[str, Any] = Field(default_factory=dict)
    timeout: PositiveDuration | None = None


class Emit(_Model):
    """A signal published when the step succeeds."""

    signal: NonBlank
    payload: dict[str, Any] = Field(default_factory=dict)


class SleepSettings(_Model):
    """``sleep: {duration: 30s}``; the duration may be a template (``"{{ params.wait }}"``)."""

    duration: TemplatedDuration


class ShellSettings(_Model):
    """A command run by ``shell`` in ``cwd``; exit code 0 is success."""

    command: NonBlank
    cwd: str = "."
    shell: str = "/bin/bash"


def _check_callable(value: str) -> str:
    if not CALLABLE_RE.match(value):
        raise ValueError(f"invalid callable {value!r}: write it as 'package.module:function'")
    return value


class PythonSettings(_Model):
    """A Python callable given as ``package.module:function`` and its keyword arguments."""

    callable: Annotated[str, AfterValidator(_check_callable)]
    kwargs: dict[str, Any] = Field(default_factory=dict)


class _SubmitSettings(_Model):
    """What ``spark-submit`` takes; shared by spark and stream steps."""

    application: NonBlank
    main_class: str | None = None
    master: str | None = None
    deploy_mode: Literal["client", "cluster"] | None = None
    name: str | None = None
    conf: dict[str, Text] = Field(default_factory=dict)
    py_files: list[str] = Field(default_factory=list)
    jars: list[str] = Field(default_factory=list)
    files: list[str] = Field(default_factory=list)
    packages: list[str] = Field(default_factory=list)
    driver_memory: Text | None = None
    executor_memory: Text | None = None
    executor_cores: int | None = Field(default=None, ge=1)
    num_executors: int | None = Field(default=None, ge=1)
    args: list[Text] = Field(default_factory=list)


class SparkSettings(_SubmitSettings):
    """A batch Spark application. ``master`` defaults to the configured one."""


class SqlSettings(_Model):
    """SQL on a named connection, given inline (``query``) or in a file."""

    connection: NonBlank
    query: str | None = None
    file: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    fetch: int = Field(default=100, ge=0, le=10_000)

    @model_validator(mode="after")
    def _query_or_file(self) -> SqlSettings:
        if (self.query is None) == (self.file is None):
            raise ValueError("give exactly one of 'query' or 'file'")
        return self


class StreamSettings(_SubmitSettings):
    """A streaming job; ``bounded`` drains what is available, ``continuous`` runs until stopped."""

    engine: Literal["spark"] = "spark"
    mode: StreamMode = StreamMode.bounded
    max_duration: PositiveDuration | None = None
    checkpoint: str | None = None


HttpMethod = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _check_status(value: int) -> int:
    if not 100 <= value <= 599:
        raise ValueError(f"invalid HTTP status {value}: expected 100 to 599")
    return value


def _check_positive_templated(value: timedelta | str) -> timedelta | str:
    return _check_positive(value) if isinstance(value, timedelta) else value


PositiveTemplatedDuration = Annotated[TemplatedDuration, AfterValidator(_check_positive_templated)]


class HttpSettings(_Model):
    """One HTTP request; a status outside ``expect_status`` fails the attempt.

    ``json`` (any JSON value) and ``body`` (text) are exclusive; ``timeout`` may be a template.
    """

    method: Annotated[HttpMethod, BeforeValidator(_upper)] = "GET"
    url: NonBlank
    headers: dict[str, Text] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    json_: Any = Field(default=None, alias="json")
    body: str | None = None
    expect_status: list[Annotated[int, AfterValidator(_check_status)]] = Field(
        default_factory=lambda: [200], min_length=1
    )
    timeout: PositiveTemplatedDuration = timedelta(seconds=30)

    model_config = ConfigDict(populate_by_name=True)

    @model_validator(mode="after")
    def _json_or_body(self) -> HttpSettings:
        if self.json_ is not None and self.body is not None:
            raise ValueError("give at most one of 'json' or 'body'")
        return self


class NotebookSettings(_Model):
    """A Jupyter notebook run with papermill; ``parameters`` are injected, ``timeout`` bounds
    the whole execution (and may be a template)."""

    path: NonBlank
    parameters: dict[str, Any] = Field(default_factory=dict)
    kernel: NonBlank = "python3"
    timeout: PositiveTemplatedDuration | None = None


def _check_items_kind(value: Any) -> Any:
    """One message instead of one per member of the union."""
    if not isinstance(value, str | list):
        kinds = {dict: "a mapping", bool: "a boolean", int: "a number", float: "a number"}
        kind = "null" if value is None else kinds.get(type(value), f"a {type(value).__name__}")
        raise ValueError(f"expected an expression (a string) or a list, got {kind}")
    return value


class ForeachSettings(_Model):
    """An inner DAG run once per item of ``items``, with the item bound to ``as``."""

    model_config = ConfigDict(populate_by_name=True)

    #: an expression giving a list, or a literal YAML list (whose strings may hold templates)
    items: Annotated[
        NonBlank | Annotated[list[Any], Field(max_length=MAX_FOREACH_ITEMS)],
        BeforeValidator(_check_items_kind),
    ]
    as_: Identifier = Field(default="item", alias="as")
    concurrency: int = Field(default=1, ge=1, le=500)
    fail_fast: bool = False
    steps: list[Step] = Field(min_length=1)


def _check_version(value: Any) -> Any:
    if value in ("active", "latest"):
        return value
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise ValueError("version must be 'active', 'latest' or a version number (1, 2, ...)")


class SubworkflowSettings(_Model):
    """A child run of another workflow; with ``wait`` the step ends as the child ends."""

    workflow: Annotated[str, AfterValidator(_check_workflow_id)]
    version: Annotated[Literal["active", "latest"] | int, BeforeValidator(_check_version)] = (
        "active"
    )
    params: dict[str, Any] = Field(default_factory=dict)
    wait: bool = True


#: the settings model of each step type that has settings
SETTINGS_MODELS: dict[StepType, type[_Model]] = {
    StepType.sleep: SleepSettings,
    StepType.shell: ShellSettings,
    StepType.python: PythonSettings,
    StepType.spark: SparkSettings,
    StepType.sql: SqlSettings,
    StepType.stream: StreamSettings,
    StepType.http: HttpSettings,
    StepType.notebook: NotebookSettings,
    StepType.foreach: ForeachSettings,
    StepType.subworkflow: SubworkflowSettings,
}
SETTINGS_KEYS = frozenset(t.value for t in SETTINGS_MODELS)

#: step types that run a process of the step's own, hence may be given connections
PROCESS_TYPES = frozenset(
    {StepType.shell, StepType.python, StepType.spark, StepType.stream, StepType.notebook}
)
#: step types that go to the ``spark`` worker queue unless told otherwise
SPARK_QUEUE_TYPES = frozenset({StepType.spark, StepType.stream})


class Step(_Model):
    """One node of a DAG: common scheduling fields plus the settings of its type."""

    id: StepId
    type: StepType
    name: str | None = None
    description: str = ""
    depends_on: Annotated[list[str], BeforeValidator(_str_to_list)] = Field(default_factory=list)
    trigger_rule: TriggerRule = TriggerRule.all_success
    when: NonBlank | None = None
    on_failure: OnFailure = OnFailure.finish_running
    retries: RetryPolicy = Field(default_factory=RetryPolicy)
    timeout: PositiveDuration | None = None
    queue: NonBlank | None = None
    pool: NonBlank | None = None
    priority: int = Field(default=0, ge=-(2**31), le=2**31 - 1)
    wait_for: list[WaitFor] = Field(default_factory=list)
    emit: list[Emit] = Field(default_factory=list)
    env: dict[EnvName, Text] = Field(default_factory=dict)
    #: named connections given to the step's process as ``MAESTRO_CONN_<NAME>`` (the worker's
    #: configuration says where they point); a step sees no other connection
    connections: Annotated[list[ConnectionName], BeforeValidator(_str_to_list)] = Field(
        default_factory=list
    )
    sleep: SleepSettings | None = None
    shell: ShellSettings | None = None
    python: PythonSettings | None = None
    spark: SparkSettings | None = None
    sql: SqlSettings | None = None
    stream: StreamSettings | None = None
    http: HttpSettings | None = None
    notebook: NotebookSettings | None = None
    foreach: ForeachSettings | None = None
    subworkflow: SubworkflowSettings | None = None

    @model_validator(mode="after")
    def _settings_match_type(self) -> Step:
        for key in sorted(SETTINGS_KEYS):
            if key != self.type.value and getattr(self, key) is not None:
                raise ValueError(
                    f"a step of type '{self.type}' does not take '{key}' settings "
                    f"(put its settings under '{self.type}')"
                    if self.type in SETTINGS_MODELS
                    else f"a step of type '{self.type}' takes no settings, but has '{key}'"
                )
        if self.type in SETTINGS_MODELS and self.settings is None:
            raise ValueError(f"a step of type '{self.type}' needs its settings under '{self.type}'")
        if self.connections and self.type not in PROCESS_TYPES:
            raise ValueError(
                f"a step of type '{self.type}' takes no 'connections' (only shell, python, "
                "spark, stream and notebook steps run a process that could use them)"
            )
        return self

    @property
    def display_name(self) -> str:
        """The name shown in UI and API: ``name``, or the id."""
        return self.name or self.id

    @property
    def settings(self) -> BaseModel | None:
        """The settings model of the step's type (None for noop)."""
        if self.type not in SETTINGS_MODELS:
            return None
        value = getattr(self, self.type.value)
        return value if isinstance(value, BaseModel) else None

    @property
    def effective_queue(self) -> str:
        """The worker queue: ``queue``, else ``spark`` for spark and stream steps, else default."""
        if self.queue:
            return self.queue
        return "spark" if self.type in SPARK_QUEUE_TYPES else "default"


ForeachSettings.model_rebuild()


# ---------------------------------------------------------------------------------------------
# defaults


def _partial(model: type[BaseModel]) -> type[BaseModel]:
    """The model with every field optional: what ``defaults.<type>`` may hold."""
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        # Keep the field's constraints (ranges, validators): they live in its metadata.
        annotation: Any = info.annotation
        if info.metadata:
            annotation = cast(Any, Annotated)[(annotation, *info.metadata)]
        fields[name] = (annotation | None, Field(default=None, alias=info.alias))
    config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    return create_model(f"Partial{model.__name__}", __config__=config, **fields)


#: the step types whose settings ``defaults`` may give, as partial models
DEFAULTABLE_SETTINGS: dict[str, type[BaseModel]] = {
    key: _partial(SETTINGS_MODELS[StepType(key)])
    for key in ("sleep", "shell", "python", "spark", "sql", "stream", "http", "notebook")
}


class StepDefaults(_Model):
    """Step fields applied to every step unless the step sets them (deep-merged; the step wins).

    The type-settings keys hold partial maps; a key applies only to steps of that type. Their
    keys and values are checked against the type's settings by the loader (see
    ``DEFAULTABLE_SETTINGS``), which keeps the user's own form here.
    """

    trigger_rule: TriggerRule | None = None
    on_failure: OnFailure | None = None
    retries: RetryPolicy | None = None
    timeout: PositiveDuration | None = None
    queue: NonBlank | None = None
    pool: NonBlank | None = None
    priority: int | None = Field(default=None, ge=-(2**31), le=2**31 - 1)
    env: dict[EnvName, Text] = Field(default_factory=dict)
    sleep: dict[str, Any] | None = None
    shell: dict[str, Any] | None = None
    python: dict[str, Any] | None = None
    spark: dict[str, Any] | None = None
    sql: dict[str, Any] | None = None
    stream: dict[str, Any] | None = None
    http: dict[str, Any] | None = None
    notebook: dict[str, Any] | None = None


# ---------------------------------------------------------------------------------------------
# the workflow


class WorkflowDefinition(_Model):
    """A whole workflow: identity, params, triggers, run policy and the DAG of steps."""

    id: Annotated[str, AfterValidator(_check_workflow_id)]
    name: str | None = None
    description: str = ""
    owner: NonBlank
    #: owners whose workflows may start this one as a subworkflow, besides its own (``"*"``:
    #: any); a subworkflow step of another owner's workflow fails naming this key
    callable_by: list[NonBlank] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    params: dict[Identifier, ParamSpec] = Field(default_factory=dict)
    triggers: list[Trigger] = Field(default_factory=list)
    run_strategy: Annotated[RunStrategy, BeforeValidator(_strategy_from_str)] = Field(
        default_factory=RunStrategy
    )
    timeout: PositiveDuration = timedelta(days=10)
    max_active_steps: int = Field(default=20, ge=1, le=1000)
    defaults: StepDefaults = Field(default_factory=StepDefaults)
    outputs: dict[str, str] = Field(default_factory=dict)
    steps: list[Step] = Field(min_length=1)

    @property
    def display_name(self) -> str:
        """The name shown in UI and API: ``name``, or the id."""
        return self.name or self.id
