"""Shared fixtures of the runtime tests: a RuntimeContext factory that records external ids."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from workers.runtimes.base import RuntimeContext


@dataclass
class ExternalIds:
    """What a runtime recorded with ``ctx.set_external_id``; ``seen`` is set on the first."""

    ids: list[str] = field(default_factory=list)
    seen: threading.Event = field(default_factory=threading.Event)

    def add(self, external_id: str) -> None:
        self.ids.append(external_id)
        self.seen.set()


NewCtx = Callable[..., tuple[RuntimeContext, ExternalIds]]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """The project folder of the contexts ``new_ctx`` makes."""
    path = tmp_path / "project"
    path.mkdir()
    return path


@pytest.fixture
def new_ctx(tmp_path: Path, workdir: Path) -> Iterator[NewCtx]:
    opened: list[Any] = []
    made = 0

    def make(
        step_type: str,
        settings: dict[str, Any],
        *,
        env: dict[str, str] | None = None,
        attempt: int = 1,
        kill_grace: float = 5.0,
        **extra: Any,
    ) -> tuple[RuntimeContext, ExternalIds]:
        nonlocal made
        made += 1
        log = open(tmp_path / f"attempt-{made}.log", "ab")  # noqa: SIM115 - closed at teardown
        opened.append(log)
        ids = ExternalIds()
        ctx = RuntimeContext(
            attempt_id=made,
            run_id=7,
            step_id="step",
            attempt_number=attempt,
            step_type=step_type,
            settings=settings,
            env={"MAESTRO_WORKFLOW_ID": "wf", "MAESTRO_ATTEMPT": str(attempt), **(env or {})},
            project_dir=workdir,
            work_dir=tmp_path / f"work-{made}",
            log=log,
            cancel=threading.Event(),
            kill_grace=kill_grace,
            set_external_id=ids.add,
            **extra,
        )
        return ctx, ids

    yield make
    for log in opened:
        log.close()


def log_text(ctx: RuntimeContext) -> str:
    ctx.log.flush()
    return Path(ctx.log.name).read_text(errors="replace")


def run_in_thread(func: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Start ``func`` in a thread; its result lands in the returned list."""
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(func()), daemon=True)
    thread.start()
    return thread, result


def wait_for(condition: Callable[[], object], timeout: float = 30.0) -> None:
    """Poll ``condition()`` until it is true: for states that can only be observed by asking."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)
