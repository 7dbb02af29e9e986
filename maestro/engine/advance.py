"""Moving one run's DAG forward inside a unit of work.

Everything that follows from a step ending happens here, in the same transaction: the run's
counters, the successors' upstream counters, the trigger rules and ``when`` conditions of the
successors that became ready, queueing them (a new attempt each, dispatched after commit),
skip/upstream-failed propagation, freeing step slots, and ending the run when nothing is left.
The work is proportional to the out-degree of the finished step, never to the size of the run.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from maestro import expressions
from maestro.definition import OnFailure, Step, StepType
from maestro.dispatch import Dispatch
from maestro.engine import children, edges, iterations, signal_waits, step_params
from maestro.engine.compiled import CompiledWorkflow, VersionCache
from maestro.engine.context import expression_context
from maestro.engine.decisions import Readiness, UpstreamCounts, run_outcome, trigger_rule_outcome
from maestro.engine.followups import (
    Fail,
    PoolSlotFreed,
    StepOutcome,
    StepStopped,
    Succeed,
    Wait,
)
from maestro.engine.lifecycle import run_ended
from maestro.errors import ExpressionError
from maestro.ids import AttemptId
from maestro.states import (
    RUN_ACTIVE,
    RUN_TRANSITIONS,
    STEP_ACTIVE,
    STEP_FAILED,
    AttemptStatus,
    RunStatus,
    StepStatus,
    WaitingFor,
)
from maestro.store import handoff
from maestro.store import pools as pool_rows
from maestro.store import steps as step_rows
from maestro.store.counters import RunCounters
from maestro.store.records import RunRow, StepRow, load_run
from maestro.store.transitions import check_allowed, transition, transition_many
from maestro.store.unit import Unit
from maestro.wording import failure_summary, plural

SLOT_WAITS = step_rows.SLOT_WAITS


@dataclass
class RunAdvance:
    """The DAG bookkeeping of one run within one unit of work."""

    u: Unit
    run: RunRow
    compiled: CompiledWorkflow
    _ready: deque[StepRow] = field(default_factory=deque)
    #: steps that may run, queued together at the end of a drain (one INSERT for a fan-out)
    _to_queue: list[StepRow] = field(default_factory=list)
    #: steps handed to workers, written at the end of the drain with the run's counters (one
    #: statement on PostgreSQL), and their dispatches' queue and priority
    _queued: list[tuple[handoff.ToQueue, str, int, StepRow]] = field(default_factory=list)
    _context: dict[str, Any] | None = None
    _counters: RunCounters | None = None
    _ended: bool = False

    def __post_init__(self) -> None:
        self.u.runs[self.run.id] = (self.run, self.compiled)

    # -- entry points -------------------------------------------------------------------

    def evaluate(self, steps: list[StepRow]) -> None:
        """Decide what each step whose upstreams have all ended does next."""
        self._ready.extend(steps)
        self._drain()

    def finish(
        self,
        step: StepRow,
        expected: StepStatus,
        to: StepStatus,
        *,
        outputs: dict[str, Any] | None = None,
        error: str | None = None,
        action: str | None = None,
    ) -> bool:
        """End a step (``to`` is terminal) and follow the consequences through the DAG."""
        if not self._finish_one(step, expected, to, outputs=outputs, error=error, action=action):
            return False
        self._drain()
        return True

    def ended(self, step: StepRow, expected: StepStatus, to: StepStatus) -> None:
        """A step the store already moved to ``to`` (terminal), its event recorded, in this
        unit (``maestro.store.handoff``): follow the consequences through the DAG."""
        self._after_end(step, expected, to)
        self._drain()

    def know_counters(self, counters: RunCounters) -> None:
        """The run's counters as a statement of this unit already read them (no read)."""
        self._counters = counters

    def fail(
        self,
        step: StepRow,
        expected: StepStatus,
        final: StepStatus,
        error: str | None,
        action: str | None = None,
    ) -> bool:
        """End a step that failed for good, applying its ``on_failure``."""
        spec = self.compiled.steps[step.step_id]
        if spec.on_failure is OnFailure.ignore and final in (
            StepStatus.FAILED,
            StepStatus.TIMED_OUT,
        ):
            final = StepStatus.FAILED_IGNORED
        if spec.on_failure is OnFailure.fail_run and final in STEP_FAILED:
            if not self._finish_one(
                step, expected, final, error=error, action=action, propagate=False
            ):
                return False
            self.end_run(RunStatus.FAILED, f"step {step.step_id!r} failed (on_failure: fail_run)")
            return True
        return self.finish(step, expected, final, error=error, action=action)

    def conclude(self, step: StepRow, expected: StepStatus, outcome: StepOutcome) -> None:
        """Apply a decider's outcome for a step (children, when its child runs are done)."""
        match outcome:
            case Succeed(outputs):
                self.finish(step, expected, StepStatus.SUCCEEDED, outputs=outputs)
            case Fail(error, status):
                self.fail(step, expected, status, error)
            case Wait():
                pass

    def release_slot(self, step: StepRow) -> None:
        """A step gave its slots back without ending (it is RETRYING): let waiting ones in."""
        self.counters.d_active -= 1
        self._give_back_pool(step)
        self._drain()

    def queue(self, step: StepRow, expected: StepStatus, action: str | None = None) -> None:
        """Hand a step to a worker if the run has a free slot, else make it wait for one."""
        self._queue_many([step], expected, action)
        self._drain()

    @property
    def counters(self) -> RunCounters:
        if self._counters is None:
            self._counters = RunCounters.read(self.u.conn, self.run.id)
        return self._counters

    def _queue_many(
        self, steps: list[StepRow], expected: StepStatus, action: str | None = None
    ) -> None:
        """Hand steps (all in ``expected``) to workers, highest priority first, as far as the
        run has free slots; the others wait for a slot (or for the run to resume)."""
        steps = sorted(steps, key=lambda s: (-s.priority, self.compiled.positions[s.step_id]))
        granted = self._take_slots(len(steps))
        if granted:
            # every step let in leaves the slot wait, whether it goes or waits for a pool
            self.counters.d_waiting -= sum(
                1 for s in steps[:granted] if _counted_waiter(s, expected)
            )
            go = [s for s in steps[:granted] if self._take_pool(s, expected, action)]
            if go:
                self._create_attempts(go, expected, action)
        rest = steps[granted:]
        if expected is not StepStatus.WAITING:
            self._wait_many(rest, expected, action)
            return
        for step in rest:
            if step.waiting_for not in SLOT_WAITS:  # released by a signal, no slot free
                step_rows.set_waiting_for(self.u.conn, step.id, WaitingFor.slot)
                self.counters.d_waiting += 1

    def complete_if_done(self) -> None:
        """End the run if nothing is left to run (a restart that reuses every step)."""
        if not self._ended and self.counters.unfinished == 0:
            self._complete_run()

    def end_run(
        self,
        to: RunStatus,
        message: str | None = None,
        *,
        action: str | None = None,
        active_steps_to: StepStatus = StepStatus.STOPPED,
    ) -> bool:
        """End the run now: every unfinished step is stopped, running attempts too."""
        if self._ended:
            return False
        values: dict[str, Any] = {"ended_at": self.u.now, "error": message}
        expected = [s for s in (*RUN_ACTIVE, RunStatus.QUEUED) if to in RUN_TRANSITIONS[s]]
        if not transition(
            self.u,
            "run",
            self.run.id,
            to,
            expected,
            run_id=self.run.id,
            values=values,
            action=action,
            message=message,
        ):
            return False
        self._ended = True
        run_ended(self.u, self.run, to)
        if self._queued:  # the steps handed on in this unit are QUEUED: they stop as such
            self._write(counters_too=False)
        for row in step_rows.of_run(self.u.conn, self.run.id, statuses=step_rows.NON_TERMINAL):
            self._stop_step(row, active_steps_to, action or "run_ended", message)
        step_rows.clear_run_counters(self.u.conn, self.run.id)
        if self._counters is not None:
            self._counters.discard()
        self._ready.clear()
        self._to_queue.clear()
        self.u.wake_scheduler = True
        return True

    # -- internals ----------------------------------------------------------------------

    def _drain(self) -> None:
        """Follow every consequence, then write the run's counters back (last, so that the
        run row stays locked for as short a time as possible)."""
        while not self._ended:
            if self._ready:
                self._decide(self._ready.popleft())
            elif self._to_queue:
                batch, self._to_queue = self._to_queue, []
                self._queue_many(batch, StepStatus.PENDING)
            else:
                self._fill_slots()
                break
        if self._ended:
            return
        if not self._queued and (self._counters is None or not self._counters.changed):
            return
        self._write()
        if not self._ended and self._counters is not None and self._counters.unfinished == 0:
            self._complete_run()

    def _decide(self, step: StepRow) -> None:
        spec = self.compiled.steps[step.step_id]
        counts = self._upstream_counts(step, spec)
        if counts is None:
            return
        match trigger_rule_outcome(spec.trigger_rule, counts):
            case Readiness.SKIP:
                self._finish_one(
                    step, StepStatus.PENDING, StepStatus.SKIPPED, error="trigger rule not met"
                )
                return
            case Readiness.UPSTREAM_FAILED:
                self._finish_one(step, StepStatus.PENDING, StepStatus.UPSTREAM_FAILED)
                return
            case Readiness.RUN:
                pass
        scope = self._step_scope(step, spec)
        if scope is None:
            return
        if spec.when is not None:
            try:
                go = expressions.evaluate_condition(spec.when, scope)
            except ExpressionError as exc:
                self.fail(step, StepStatus.PENDING, StepStatus.FAILED, f"when: {exc}")
                return
            if not go:
                self._finish_one(
                    step, StepStatus.PENDING, StepStatus.SKIPPED, error="condition was false"
                )
                return
        if spec.wait_for and not self._wait_for_signals(step, spec, scope):
            return  # WAITING until its signals arrive (or failed: a match did not render)
        if spec.type in (StepType.foreach, StepType.subworkflow, StepType.while_):
            # runs other runs; never reaches a worker
            parent = iterations.Parent(self.u, self.run, self.compiled, scope)
            self.conclude(step, StepStatus.PENDING, children.start(parent, step, spec))
            return
        self._to_queue.append(step)

    def _wait_for_signals(self, step: StepRow, spec: Step, scope: dict[str, Any]) -> bool:
        """Register the step's waits, their matches rendered in its scope; True when every
        signal is there already (the step goes on)."""
        try:
            rendered = signal_waits.render_matches(spec, scope)
        except signal_waits.MatchRenderError as exc:
            self.fail(step, StepStatus.PENDING, StepStatus.FAILED, str(exc))
            return False
        return signal_waits.register_waits(self.u, self.run, step, spec, rendered)

    def _upstream_counts(self, step: StepRow, spec: Step) -> UpstreamCounts | None:
        """How the upstreams ended — with conditional edges, which were taken (``edges.py``);
        None when a condition failed (and so did the step)."""
        if not spec.edge_conditions:
            return UpstreamCounts(step.up_total, step.up_failed, step.up_skipped)
        try:
            return edges.counts(spec, self.context)
        except edges.EdgeError as exc:
            self.fail(step, StepStatus.PENDING, StepStatus.FAILED, str(exc))
            return None

    def _step_scope(self, step: StepRow, spec: Step) -> dict[str, Any] | None:
        """The step's own scope: the run's, with its step params rendered, recorded and
        shadowing the run's (``step_params.py``); None when they failed (and so did the step)."""
        if not spec.params:
            return self.context
        try:
            values = step_params.render(spec, self.context)
        except step_params.StepParamError as exc:
            self.fail(step, StepStatus.PENDING, StepStatus.FAILED, str(exc))
            return None
        step_rows.set_params(self.u.conn, step.id, values)
        self._context = None  # downstream expressions see them
        return step_params.with_params(self.context, values)

    @property
    def context(self) -> dict[str, Any]:
        if self._context is None:
            self._context = expression_context(self.u.conn, self.run)
        return self._context

    def _finish_one(
        self,
        step: StepRow,
        expected: StepStatus,
        to: StepStatus,
        *,
        outputs: dict[str, Any] | None = None,
        error: str | None = None,
        action: str | None = None,
        propagate: bool = True,
    ) -> bool:
        values: dict[str, Any] = {
            "ended_at": self.u.now,
            "next_attempt_at": None,
            "waiting_for": None,
        }
        if outputs is not None:
            values["outputs"] = outputs
        if error is not None or to is StepStatus.SUCCEEDED:
            values["error"] = error  # a success clears the error of earlier attempts
        if not transition(
            self.u,
            "step",
            step.id,
            to,
            expected,
            run_id=self.run.id,
            values=values,
            action=action,
            message=error,
        ):
            return False
        self._after_end(step, expected, to, propagate=propagate)
        return True

    def _after_end(
        self, step: StepRow, expected: StepStatus, to: StepStatus, *, propagate: bool = True
    ) -> None:
        self._context = None  # a finished step's outputs are now visible to expressions
        counters = self.counters
        if expected in STEP_ACTIVE:
            counters.d_active -= 1
            self._give_back_pool(step)
        counters.d_unfinished -= 1
        counters.d_failed += 1 if to in STEP_FAILED else 0
        counters.d_waiting -= 1 if _counted_waiter(step, expected) else 0
        spec = self.compiled.steps[step.step_id]
        if to is StepStatus.SUCCEEDED and spec.emit:
            owner = self.compiled.definition.owner  # the signals act for their workflow's owner
            signal_waits.emit(self.u, self.run.id, owner, self.context, spec)
        if propagate:
            self._notify_successors(step.step_id, to)

    def _notify_successors(self, step_id: str, status: StepStatus) -> None:
        successors = self.compiled.successors[step_id]
        if not successors:
            return
        rows = step_rows.upstreams_ended(  # one statement, every successor
            self.u.conn,
            self.run.id,
            successors,
            failed=status in STEP_FAILED,
            skipped=status is StepStatus.SKIPPED,
        )
        for succ_row in rows:
            if succ_row.up_done == succ_row.up_total and succ_row.status is StepStatus.PENDING:
                self._ready.append(succ_row)

    def _fill_slots(self) -> None:
        """Let WAITING steps in while the run has free slots, highest priority first."""
        counters = self.counters
        free = min(counters.free_slots, counters.steps_waiting)
        if free <= 0:  # the common case costs no query
            return
        rows = step_rows.next_waiting_for_slot(self.u.conn, self.run.id, free)
        if rows:
            self._queue_many(rows, StepStatus.WAITING)

    def _take_pool(self, step: StepRow, expected: StepStatus, action: str | None) -> bool:
        """The step's pool slot, if it names a pool; otherwise it waits (or fails: no pool)."""
        name = self.compiled.steps[step.step_id].pool
        if name is None or pool_rows.take(self.u, name):
            return True
        self.counters.d_active -= 1  # the run's slot goes back
        if not pool_rows.exists(self.u.conn, name):
            self.fail(
                step,
                expected,
                StepStatus.FAILED,
                f"pool {name!r} does not exist (create it with PUT /api/v1/pools/{name})",
            )
        elif expected is StepStatus.WAITING:
            step_rows.set_waiting_for(self.u.conn, step.id, WaitingFor.pool)
        else:
            transition(
                self.u,
                "step",
                step.id,
                StepStatus.WAITING,
                expected,
                run_id=self.run.id,
                values={"waiting_for": WaitingFor.pool, "next_attempt_at": None},
                action=action,
            )
        return False

    def _give_back_pool(self, step: StepRow) -> None:
        name = self.compiled.steps[step.step_id].pool
        if name is not None:
            pool_rows.give_back(self.u, name)
            self.u.followups.append(PoolSlotFreed(name))  # the next waiter of the pool goes

    def _take_slots(self, wanted: int) -> int:
        """Take up to ``wanted`` of the run's free slots (in this unit's counters)."""
        counters = self.counters
        granted = min(wanted, counters.free_slots)
        counters.d_active += granted
        return granted

    def _wait_many(
        self, steps: list[StepRow], expected: StepStatus, action: str | None = None
    ) -> None:
        """Steps (all in ``expected``, this unit's) wait for a slot: one statement for all —
        a step that finishes with 49 successors and 20 free slots makes 29 of them wait."""
        if len(steps) <= 1:
            for step in steps:
                self._wait(step, expected, action)
            return
        reason = WaitingFor.slot if self.counters.status is RunStatus.RUNNING else WaitingFor.paused
        values = {"waiting_for": reason, "next_attempt_at": None}
        transition_many(
            self.u,
            "step",
            [(step.id, values) for step in steps],
            StepStatus.WAITING,
            expected,
            run_id=self.run.id,
            action=action,
        )
        self.counters.d_waiting += len(steps)

    def _wait(self, step: StepRow, expected: StepStatus, action: str | None = None) -> None:
        reason = WaitingFor.slot if self.counters.status is RunStatus.RUNNING else WaitingFor.paused
        values = {"waiting_for": reason, "next_attempt_at": None}
        if transition(
            self.u,
            "step",
            step.id,
            StepStatus.WAITING,
            expected,
            run_id=self.run.id,
            values=values,
            action=action,
        ):
            self.counters.d_waiting += 1

    def _create_attempts(
        self, steps: list[StepRow], expected: StepStatus, action: str | None = None
    ) -> None:
        """One QUEUED attempt per step; the steps become QUEUED — written with the run's
        counters at the end of the drain (``_write``)."""
        for step in steps:
            spec = self.compiled.steps[step.step_id]
            wanted = handoff.ToQueue(
                step.id, step.attempts + 1, spec.effective_queue, expected, action
            )
            self._queued.append((wanted, spec.effective_queue, spec.priority, step))

    def _write(self, *, counters_too: bool = True) -> None:
        """The steps handed to workers and the run's counters, together: one statement on
        PostgreSQL (their attempts, the steps QUEUED, the events, the counters). A run the
        counters leave with nothing unfinished and nothing failed ends SUCCEEDED in the
        counters' statement — unless it has workflow outputs to render (``_complete_run``
        does, after)."""
        queued, self._queued = self._queued, []
        counters = self._counters if counters_too else None
        if not queued:
            if self.u.conn.dialect.name == "postgresql":
                # the events first: the run row's lock is taken by the next statement (SQLite
                # locks the whole file for the transaction: its events wait for the unit's end,
                # one statement with the next claim's)
                self.u.flush()
            if counters is None:
                return
            if self.compiled.definition.outputs:
                counters.write(self.u.conn)
            elif counters.write_or_end(self.u.conn, self.u.now, {}):
                self._succeeded()
            return
        ids = handoff.queue_attempts(self.u, self.run.id, [q[0] for q in queued], counters)
        for (wanted, queue, priority, step), attempt_id in zip(queued, ids, strict=True):
            self.u.dispatches.append(Dispatch(AttemptId(attempt_id), queue, priority))
            if self._counters is not None:
                handoff.keep_queued(self.u, attempt_id, wanted, step, self.run, self._counters)

    def _stop_step(
        self, step: StepRow, active_to: StepStatus, action: str, message: str | None
    ) -> None:
        to = active_to if step.status in STEP_ACTIVE else StepStatus.STOPPED
        if step.status in STEP_ACTIVE:
            self._give_back_pool(step)
        if step.current_attempt_id is not None and step.status in STEP_ACTIVE:
            stopped = transition(
                self.u,
                "attempt",
                step.current_attempt_id,
                AttemptStatus.STOPPED,
                (AttemptStatus.QUEUED, AttemptStatus.RUNNING),
                run_id=self.run.id,
                step_run_id=step.id,
                values={"ended_at": self.u.now, "error": message},
                action=action,
            )
            if stopped:
                self.u.cancels.append(step.current_attempt_id)
        transition(
            self.u,
            "step",
            step.id,
            to,
            step.status,
            run_id=self.run.id,
            values={"ended_at": self.u.now, "next_attempt_at": None},
            action=action,
            message=message,
        )
        if step.waiting_for == WaitingFor.children:
            self.u.followups.append(StepStopped(step.id))  # its child runs stop too

    def _complete_run(self) -> None:
        counted = self._counters
        expected: RunStatus | tuple[RunStatus, ...]
        if counted is not None and not counted.changed and counted.failed is not None:
            # the counters were just written: their RETURNING gave the failed count, and the
            # run's status as written (the UPDATE holds the row until the unit ends)
            failed, expected = counted.failed, counted.status
        else:
            failed, expected = step_rows.failed_count(self.u.conn, self.run.id), tuple(RUN_ACTIVE)
        outcome = run_outcome(failed)
        outputs: dict[str, Any] | None = None
        error: str | None = None
        if outcome is RunStatus.SUCCEEDED:
            try:
                outputs = self._workflow_outputs()
            except ExpressionError as exc:
                outcome, error = RunStatus.FAILED, f"workflow outputs: {exc}"
        else:
            ended = step_rows.of_run(self.u.conn, self.run.id, statuses=STEP_FAILED)
            ordered = sorted(ended, key=lambda r: self.compiled.positions[r.step_id])
            summary = failure_summary((r.step_id, r.status) for r in ordered)
            error = summary or f"{plural(failed, 'step')} failed"
        values: dict[str, Any] = {"ended_at": self.u.now, "outputs": outputs, "error": error}
        if transition(
            self.u,
            "run",
            self.run.id,
            outcome,
            expected,
            run_id=self.run.id,
            values=values,
            message=error,
        ):
            self._ended = True
            run_ended(self.u, self.run, outcome)

    def _succeeded(self) -> None:
        """The counters' statement ended the run SUCCEEDED (``RunCounters.write_or_end``):
        its event and what follows a run's end, as ``_complete_run`` records them."""
        check_allowed("run", RunStatus.RUNNING, RunStatus.SUCCEEDED)
        self.u.add_event(
            run_id=self.run.id,
            entity="run",
            from_status=RunStatus.RUNNING.value,
            to_status=RunStatus.SUCCEEDED.value,
        )
        self._ended = True
        run_ended(self.u, self.run, RunStatus.SUCCEEDED)

    def _workflow_outputs(self) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for name, expr in self.compiled.definition.outputs.items():
            try:
                result[name] = expressions.render(expr, self.context)
            except ExpressionError as exc:
                raise ExpressionError(expr, f"outputs.{name}: {exc.detail}") from exc
        return result


def _counted_waiter(step: StepRow, expected: StepStatus) -> bool:
    return expected is StepStatus.WAITING and step.waiting_for in SLOT_WAITS


def release_waiting(u: Unit, versions: VersionCache, step: StepRow) -> bool:
    """A WAITING step may go (its pool slot or its signals came): hand it on in its run's
    advance. False when its run is no longer active (the step stays as it is)."""
    run = load_run(u.conn, step.run_id)
    if run.status not in RUN_ACTIVE:
        return False
    compiled = versions.for_run(u.conn, run.workflow_id, run.version, run.body)
    RunAdvance(u, run, compiled).queue(step, StepStatus.WAITING)
    return True
