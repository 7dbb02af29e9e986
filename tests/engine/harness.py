"""Drive the engine deterministically: attempts run inline, the scheduler by ``tick()``."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from maestro.clock import FakeClock
from maestro.definition import load_definition
from maestro.dispatch import Dispatch
from maestro.engine.core import Engine
from maestro.engine.runs import create_run
from maestro.engine.scheduler import Scheduler
from maestro.engine.start import start_run
from maestro.engine.workflows import submit
from maestro.reads import RunView, run_view
from maestro.settings import load_settings
from maestro.states import RUN_TERMINAL
from maestro.store.db import Database
from workers.executor import AttemptExecutor


class InlineDispatcher:
    """Collects dispatches; the harness executes them one by one in the test's thread."""

    def __init__(self) -> None:
        self.pending: list[Dispatch] = []
        self.cancelled: list[int] = []
        self.executor: AttemptExecutor | None = None
        #: attempts an executor followed on to (claimed with the report of the one before)
        self.followed: list[int] = []

    def send(self, dispatches: Sequence[Dispatch]) -> None:
        self.pending.extend(dispatches)

    def take(self, dispatches: list[Dispatch]) -> tuple[Dispatch, bool] | None:
        """A reporting executor follows on to the first of its report's dispatches of the
        highest priority (``maestro.dispatch.Follow``), as the embedded dispatcher does."""
        if not dispatches:
            return None
        best = max(range(len(dispatches)), key=lambda i: dispatches[i].priority)
        chosen = dispatches.pop(best)
        self.followed.append(chosen.attempt_id)
        return chosen, True

    def give_back(self, taken: Dispatch) -> None:
        raise AssertionError("the harness follows only on its report's own dispatches")

    def cancel(self, attempt_ids: Sequence[int]) -> None:
        self.cancelled.extend(attempt_ids)
        if self.executor is not None:
            for attempt_id in attempt_ids:
                self.executor.cancel(attempt_id)


class Harness:
    def __init__(self, db_url: str, home: Path, *, follow: bool = True, **settings: Any) -> None:
        """``follow``: the executor claims a successor with its report, as workers do."""
        self.clock = FakeClock()
        self.settings = load_settings(home=home, project_dir=home, database_url=db_url, **settings)
        self.db = Database(db_url)
        self.dispatcher = InlineDispatcher()
        self.engine = Engine(self.db, self.settings, clock=self.clock, dispatcher=self.dispatcher)
        self.executor = AttemptExecutor(self.engine, "test-worker")
        if follow:
            self.executor.follow = self.dispatcher
        self.dispatcher.executor = self.executor
        self.scheduler = Scheduler(self.engine)
        self.executed: list[int] = []

    def close(self) -> None:
        self.executor.close()
        self.db.dispose()

    def submit(self, yaml_text: str) -> str:
        definition = load_definition(textwrap.dedent(yaml_text))
        with self.engine.unit() as u:
            submit(u, definition)
        return definition.id

    def start(self, yaml_text: str, **kwargs: Any) -> int:
        workflow_id = self.submit(yaml_text)
        with self.engine.unit() as u:
            run_id = create_run(u, self.engine.versions, workflow_id, **kwargs)
            start_run(u, self.engine.versions, run_id)
        return run_id

    def step_once(self) -> bool:
        """Execute every pending dispatch; ``False`` when there was none."""
        if not self.dispatcher.pending:
            return False
        batch, self.dispatcher.pending = self.dispatcher.pending, []
        for d in sorted(batch, key=lambda d: -d.priority):
            self.executed.append(d.attempt_id)
            self.executor.execute(d.attempt_id)
        return True

    def drain(self, run_id: int, *, max_rounds: int = 10_000, advance: float = 1.0) -> RunView:
        """Run until the run ends: execute, tick, and move the fake clock when idle."""
        for _ in range(max_rounds):
            if self.step_once():
                continue
            self.scheduler.tick()
            if self.dispatcher.pending:
                continue
            view = self.view(run_id)
            if view.status in RUN_TERMINAL:
                return view
            self.clock.advance(advance)
        raise AssertionError(f"run {run_id} did not end: {self.view(run_id)}")

    def view(self, run_id: int) -> RunView:
        with self.db.read() as conn:
            return run_view(conn, run_id)

    def statuses(self, run_id: int) -> dict[str, str]:
        return {s.step_id: s.status.value for s in self.view(run_id).steps}
