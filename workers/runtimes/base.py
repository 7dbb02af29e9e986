"""The one small interface every step runtime implements, and what it is given.

A runtime turns a step's rendered settings into an execution and returns an ``Outcome``. It
never touches the store: the attempt executor claims, heartbeats and reports around it.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal, Protocol


@dataclass
class RuntimeContext:
    """Everything a runtime may use to run one attempt."""

    attempt_id: int
    run_id: int
    step_id: str
    attempt_number: int
    step_type: str
    #: the step type's own settings, already rendered (e.g. ``{"command": ..., "cwd": ...}``)
    settings: Mapping[str, Any]
    #: the step's ``env`` (rendered) merged over MAESTRO_* variables; not the whole os.environ
    env: Mapping[str, str]
    #: relative paths in settings resolve against this folder
    project_dir: Path
    #: a scratch folder owned by this attempt (holds the $MAESTRO_OUTPUT file)
    work_dir: Path
    #: the attempt log, opened for binary append; runtimes write bytes and flush
    log: BinaryIO
    #: set by the executor when the attempt must stop (stop action, timeout, lost ownership)
    cancel: threading.Event
    #: seconds between SIGTERM and SIGKILL when a process must stop
    kill_grace: float = 5.0
    #: record an external id (Spark application id, query id) on the attempt
    set_external_id: Callable[[str], None] = field(default=lambda _id: None)
    #: Spark master of spark/stream steps that name none (setting ``spark_master``)
    spark_master: str = "local[*]"
    #: YAML file of named connections (setting ``connections_file``); see ``connections.py``
    connections_file: Path | None = None
    #: root of the default checkpoints of stream steps (``<MAESTRO_HOME>/checkpoints``)
    checkpoints_dir: Path | None = None
    #: where ``log`` writes (``<logs>/<run>/<step>/<attempt>.log``): files an attempt keeps
    #: (a notebook step's executed notebook) go beside it
    log_path: Path | None = None
    #: the external id (query, application) of this step's previous attempt, declared LOST
    #: when its worker died: a runtime with a ``fence`` method ends it before running again
    fence_id: str | None = None

    @property
    def output_path(self) -> Path:
        """The file named by $MAESTRO_OUTPUT (its folder is created on first use)."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        return self.work_dir / "output"


@dataclass
class Outcome:
    """What one execution produced."""

    status: Literal["succeeded", "failed"]
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    exit_code: int | None = None
    #: a failure that retrying cannot fix (bad settings, unknown callable)
    permanent: bool = False

    @classmethod
    def ok(cls, outputs: dict[str, Any] | None = None, exit_code: int | None = None) -> Outcome:
        return cls("succeeded", outputs or {}, None, exit_code)

    @classmethod
    def fail(cls, error: str, *, exit_code: int | None = None, permanent: bool = False) -> Outcome:
        return cls("failed", {}, error, exit_code, permanent)


class Runtime(Protocol):
    """Runs one attempt of a step to its end, or until ``ctx.cancel`` is set."""

    def run(self, ctx: RuntimeContext) -> Outcome: ...


def exit_status(returncode: int) -> str:
    """How a process ended, for messages: ``exited with code 3``, ``killed by signal SIGTERM``."""
    if returncode >= 0:
        return f"exited with code {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    return f"killed by signal {name}"
