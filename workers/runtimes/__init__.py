"""Step runtimes, by step type.

The attempt executor looks a step's type up here. Runtimes are stateless, so one shared
instance per type serves every attempt, on any thread. foreach and subworkflow steps have no
entry: the engine runs them as child runs and never dispatches them (``get_runtime`` returns
None for them). The spark, sql and stream runtimes import their optional libraries (pyspark,
SQL drivers) only when they run; the notebook runtime's child process imports papermill.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from workers.runtimes.base import Outcome, Runtime, RuntimeContext
from workers.runtimes.http import HttpRuntime
from workers.runtimes.noop import NoopRuntime
from workers.runtimes.notebook import NotebookRuntime
from workers.runtimes.python import PythonRuntime
from workers.runtimes.shell import ShellRuntime
from workers.runtimes.sleep import SleepRuntime
from workers.runtimes.spark import SparkRuntime
from workers.runtimes.sql import SqlRuntime
from workers.runtimes.stream import StreamRuntime

RUNTIMES: Mapping[str, Runtime] = MappingProxyType(
    {
        "noop": NoopRuntime(),
        "sleep": SleepRuntime(),
        "shell": ShellRuntime(),
        "python": PythonRuntime(),
        "spark": SparkRuntime(),
        "sql": SqlRuntime(),
        "stream": StreamRuntime(),
        "http": HttpRuntime(),
        "notebook": NotebookRuntime(),
    }
)


def get_runtime(step_type: str) -> Runtime | None:
    """The runtime for ``step_type``, or None when that type has no runtime (yet)."""
    return RUNTIMES.get(step_type)


__all__ = ["RUNTIMES", "Outcome", "Runtime", "RuntimeContext", "get_runtime"]
