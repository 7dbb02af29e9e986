"""A step of a definition: its common fields (``Step``) and the settings of each step type."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)

from maestro.definition.alerts import StepAlerts
from maestro.definition.basics import (
    CALLABLE_RE,
    MAX_FOREACH_ITEMS,
    Backoff,
    ConnectionName,
    EnvName,
    Identifier,
    NonBlank,
    OnFailure,
    PositiveDuration,
    SignalMatch,
    StepId,
    StepType,
    StreamMode,
    Text,
    TriggerRule,
    _check_positive,
    _check_workflow_id,
    _Model,
    _str_to_list,
)
from maestro.definition.datasets import Datasets
from maestro.definition.durations import Duration, TemplatedDuration
from maestro.definition.edges import Edge, is_conditional, upstream_of
from maestro.definition.step_params import TypedStepParam, is_typed

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
    match: SignalMatch = Field(default_factory=dict)
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


ItemsSource = Annotated[
    NonBlank | Annotated[list[Any], Field(max_length=MAX_FOREACH_ITEMS)],
    BeforeValidator(_check_items_kind),
]


class ForeachSettings(_Model):
    """An inner DAG run once per item of ``items`` (bound to ``as``), or once per combination
    of the ``matrix``'s named lists (each name bound; Maestro's ``loop_params``)."""

    model_config = ConfigDict(populate_by_name=True)

    #: an expression giving a list, or a literal YAML list (whose strings may hold templates)
    items: ItemsSource | None = None
    #: name → list (or an expression giving one): the cross product is iterated, the first
    #: name varying slowest
    matrix: dict[Identifier, ItemsSource] | None = Field(default=None, min_length=1)
    as_: Identifier = Field(default="item", alias="as")
    concurrency: int = Field(default=1, ge=1, le=500)
    #: iteration n + concurrency starts only once iteration n has ended (Maestro's window)
    strict_ordering: bool = False
    fail_fast: bool = False
    steps: list[Step] = Field(min_length=1)

    @model_validator(mode="after")
    def _items_or_matrix(self) -> ForeachSettings:
        if (self.items is None) == (self.matrix is None):
            raise ValueError("give exactly one of 'items' or 'matrix'")
        return self


class WhileSettings(_Model):
    """An inner DAG run again and again while ``condition`` holds (Maestro's while step).

    ``loop`` gives the loop variables' first values (rendered when the step starts); before
    each iteration ``condition`` is evaluated with them in scope; after one, ``update`` is
    rendered with them and the iteration's ``steps.<id>`` in scope and gives their next values.
    """

    condition: NonBlank
    loop: dict[Identifier, Any] = Field(default_factory=dict)
    update: dict[Identifier, Any] = Field(default_factory=dict)
    max_iterations: int = Field(default=1000, ge=1, le=MAX_FOREACH_ITEMS)
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
    #: params the child workflow does not declare are passed as untyped run params of the
    #: child (Maestro's behaviour) instead of refusing the child run
    pass_undeclared: bool = False


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
    StepType.while_: WhileSettings,
}
SETTINGS_KEYS = frozenset(t.value for t in SETTINGS_MODELS)

#: step types that run a process of the step's own, hence may be given connections
PROCESS_TYPES = frozenset(
    {StepType.shell, StepType.python, StepType.spark, StepType.stream, StepType.notebook}
)
#: step types that go to the ``spark`` worker queue unless told otherwise
SPARK_QUEUE_TYPES = frozenset({StepType.spark, StepType.stream})


def _attr(key: str) -> str:
    """The attribute of a settings key (``while`` is a Python keyword)."""
    return "while_" if key == "while" else key


def _entry_kind(value: Any) -> str:
    return "edge" if isinstance(value, dict | Edge) else "id"


def _param_kind(value: Any) -> str:
    return "typed" if isinstance(value, TypedStepParam) or is_typed(value) else "plain"


#: a ``depends_on`` entry: an id, or ``{step, if}``
DependsOnEntry = Annotated[
    Annotated[str, Tag("id")] | Annotated[Edge, Tag("edge")], Discriminator(_entry_kind)
]
#: a step param: ``{type, value}``, or its value as written (a template, or any value)
StepParam = Annotated[
    Annotated[TypedStepParam, Tag("typed")] | Annotated[Any, Tag("plain")],
    Discriminator(_param_kind),
]


class Step(_Model):
    """One node of a DAG: common scheduling fields plus the settings of its type."""

    id: StepId
    type: StepType
    name: str | None = None
    description: str = ""
    depends_on: Annotated[list[DependsOnEntry], BeforeValidator(_str_to_list)] = Field(
        default_factory=list
    )
    trigger_rule: TriggerRule = TriggerRule.all_success
    #: step params (``maestro.definition.step_params``), rendered when the step is to run
    params: dict[Identifier, StepParam] = Field(default_factory=dict)
    when: NonBlank | None = None
    on_failure: OnFailure = OnFailure.finish_running
    retries: RetryPolicy = Field(default_factory=RetryPolicy)
    #: a duration, or a template rendered when an attempt starts (``engine/attempts.py``)
    timeout: PositiveTemplatedDuration | None = None
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
    #: the datasets the step reads and writes, for lineage (``maestro.definition.datasets``);
    #: a sql step's own statement is parsed for them when it declares none
    inputs: Datasets
    outputs: Datasets
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
    while_: WhileSettings | None = Field(default=None, alias="while")
    #: alerts on this step's own events (spec/alerts.md)
    alerts: StepAlerts = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _conditional_default_rule(cls, data: Any) -> Any:
        """A step with a conditional incoming edge defaults to ``any_taken``."""
        if isinstance(data, dict) and "trigger_rule" not in data:
            deps = data.get("depends_on")
            if isinstance(deps, list) and any(is_conditional(d) for d in deps):
                return {**data, "trigger_rule": TriggerRule.any_taken.value}
        return data

    @property
    def upstreams(self) -> list[str]:
        """The upstream step ids, in ``depends_on`` order."""
        return [upstream_of(entry) for entry in self.depends_on]

    @property
    def edge_conditions(self) -> dict[str, str]:
        """Upstream id → the condition of its edge, for conditional edges only."""
        return {e.step: e.if_ for e in self.depends_on if isinstance(e, Edge) and e.if_}

    @model_validator(mode="after")
    def _settings_match_type(self) -> Step:
        for key in sorted(SETTINGS_KEYS):
            if key != self.type.value and getattr(self, _attr(key)) is not None:
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
        value = getattr(self, _attr(self.type.value))
        return value if isinstance(value, BaseModel) else None

    @property
    def body(self) -> list[Step] | None:
        """The inner DAG of a foreach or while step."""
        inner = self.foreach or self.while_
        return list(inner.steps) if inner is not None else None

    @property
    def effective_queue(self) -> str:
        """The worker queue: ``queue``, else ``spark`` for spark and stream steps, else default."""
        if self.queue:
            return self.queue
        return "spark" if self.type in SPARK_QUEUE_TYPES else "default"


ForeachSettings.model_rebuild()
WhileSettings.model_rebuild()
