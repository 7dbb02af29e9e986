"""The workflow definition as pydantic models: the YAML contract of spec/workflow.md in code.

Every model refuses unknown keys and is frozen: a definition is an immutable version once
submitted, and a typo in a hand-written YAML file must be an error rather than a silently
ignored key. Validation here is per-field and per-model; checks that need the whole document
(the DAG, expressions, defaults merging) live in ``loader.py`` and ``graph.py``.
"""

from __future__ import annotations

import zoneinfo
from datetime import timedelta
from typing import Annotated, Any, cast

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

from maestro.definition.alerts import AlertRule
from maestro.definition.basics import (
    MAX_FOREACH_ITEMS,
    STEP_ID_PATTERN,
    STEP_ID_RE,
    Backoff,
    EnvName,
    Identifier,
    NonBlank,
    OnFailure,
    ParamType,
    PositiveDuration,
    RunStrategyKind,
    SignalMatch,
    StepType,
    Text,
    TriggerRule,
    _check_workflow_id,
    _Model,
)
from maestro.definition.steps import SETTINGS_MODELS, PositiveTemplatedDuration, RetryPolicy, Step

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
    match: SignalMatch = Field(default_factory=dict)
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
    timeout: PositiveTemplatedDuration | None = None
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
    #: alerts on run events and on the events of every step of this DAG (spec/alerts.md)
    alerts: list[AlertRule] = Field(default_factory=list)
    steps: list[Step] = Field(min_length=1)

    @property
    def display_name(self) -> str:
        """The name shown in UI and API: ``name``, or the id."""
        return self.name or self.id


#: what other modules import from here (the models, and the parts they are built of)
__all__ = [
    "MAX_FOREACH_ITEMS",
    "STEP_ID_PATTERN",
    "STEP_ID_RE",
    "Backoff",
    "CronTrigger",
    "OnFailure",
    "ParamSpec",
    "ParamType",
    "RetryPolicy",
    "RunStrategy",
    "RunStrategyKind",
    "SignalTrigger",
    "Step",
    "StepDefaults",
    "StepType",
    "TriggerRule",
    "WorkflowDefinition",
]
