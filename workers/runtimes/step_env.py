"""The environment of a step's process: the one place that says what a step may see.

A worker's environment holds the platform's secrets (``MAESTRO_DATABASE_URL``,
``MAESTRO_BROKER_URL``, every ``MAESTRO_CONN_*`` with its password). A step is code written by
whoever may submit a workflow, and its log is readable by whoever may read the run, so a step
must not inherit them: a step that prints its environment once printed them all. A step's
process gets, and only gets:

1. from the worker's environment, the basics a process needs (``BASICS``, ``LC_*``) and, for
   spark and stream steps, what ``spark-submit`` needs to find Java, Spark and the cluster
   (``SPARK_BASICS``, ``PYSPARK_*``);
2. the step's declared ``env`` and the attempt's ``MAESTRO_*`` variables, with ``TRACEPARENT``
   when traces are on (``ctx.env``: built by the engine from the definition, never from the
   worker's environment), and ``MAESTRO_OUTPUT``;
3. the connections the step names (``connections: [dw]``, passed on as ``MAESTRO_CONNECTIONS``),
   each as ``MAESTRO_CONN_<NAME>`` with its URL, resolved as a sql step's connection is.

Nothing else: no other ``MAESTRO_*`` setting, no other variable of the worker. The secrets of
the connections given (their passwords, as written and percent-encoded) are returned with the
environment, so that the runtime masks them in the step's log as the sql runtime does.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from maestro.connections import ConnectionLookupError, env_var_name, resolve
from maestro.dispatch import CONNECTIONS_VAR
from workers.runtimes.base import RuntimeContext

#: variables of the worker's environment that every step gets, when the worker has them
BASICS = frozenset({"PATH", "HOME", "LANG", "TZ", "TMPDIR", "USER", "LOGNAME"})
#: prefixes of the worker's variables that every step gets (locale categories)
BASIC_PREFIXES = ("LC_",)
#: what spark-submit needs besides: where Java and Spark are, and the cluster's configuration
SPARK_BASICS = frozenset(
    {"JAVA_HOME", "SPARK_HOME", "SPARK_CONF_DIR", "HADOOP_CONF_DIR", "YARN_CONF_DIR"}
)
SPARK_PREFIXES = ("PYSPARK_",)


class StepEnvError(ValueError):
    """A connection the step names cannot be resolved (a permanent failure)."""


@dataclass
class StepEnv:
    """A step's environment and the secrets in it that its log must not show."""

    env: dict[str, str]
    secrets: list[str] = field(default_factory=list)


def step_environment(
    ctx: RuntimeContext,
    *,
    spark: bool = False,
    extra: Mapping[str, str] | None = None,
    worker_env: Mapping[str, str] | None = None,
) -> StepEnv:
    """The environment of ``ctx``'s process; raises ``StepEnvError`` for an unknown connection."""
    source = os.environ if worker_env is None else worker_env
    env = {key: value for key, value in source.items() if _allowed(key, spark=spark)}
    env.update({key: str(value) for key, value in ctx.env.items()})
    env["MAESTRO_OUTPUT"] = str(ctx.output_path)
    env.update(extra or {})
    secrets: list[str] = []
    for name in connection_names(ctx.env):
        try:
            conn = resolve(
                name,
                connections_file=ctx.connections_file,
                project_dir=ctx.project_dir,
                environ=source,
            )
        except ConnectionLookupError as exc:
            raise StepEnvError(str(exc)) from None
        env[env_var_name(name)] = conn.url
        secrets.extend(conn.secrets)
    return StepEnv(env, secrets)


def connection_names(env: Mapping[str, str]) -> list[str]:
    """The names in ``MAESTRO_CONNECTIONS``."""
    return [name.strip() for name in env.get(CONNECTIONS_VAR, "").split(",") if name.strip()]


def _allowed(key: str, *, spark: bool) -> bool:
    if key in BASICS or key.startswith(BASIC_PREFIXES):
        return True
    return spark and (key in SPARK_BASICS or key.startswith(SPARK_PREFIXES))
