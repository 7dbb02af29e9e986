"""The run row's counters as one unit of work sees them.

Every step that finishes changes its run's counters (slots in use, steps unfinished, failed,
waiting). Writing them at once would hold the run row's lock for the rest of the
transaction, and on PostgreSQL every completion of the run would queue behind it. Instead a
unit reads the counters once without a lock, keeps its own changes here, decides with the
sum (is a slot free? is anyone waiting?), and writes the changes back in one conditional
UPDATE just before it commits. If another unit took the slots it counted on meanwhile, the
UPDATE matches nothing and the unit is retried (``ConcurrentChange``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, case, literal, null, or_, select, update

from maestro.errors import ConcurrentChange
from maestro.states import RUN_ACTIVE, RunStatus
from maestro.store import direct, tables

R = tables.runs

_SNAPSHOT = select(
    R.c.status, R.c.active_steps, R.c.max_active_steps, R.c.steps_unfinished, R.c.steps_waiting
).where(R.c.id == bindparam("p_run"))

#: the unit's changes, written back (conditional: the slots it took must still be free)
APPLY = (
    update(R)
    .where(
        R.c.id == bindparam("p_run"),
        # one comparison per status, not an IN list (expanded at every execution)
        or_(*(R.c.status == s.value for s in sorted(RUN_ACTIVE))),
        # slots taken by this unit must still be free (a release never needs checking)
        (bindparam("p_active") <= 0)
        | (R.c.active_steps + bindparam("p_active") <= R.c.max_active_steps),
    )
    .values(
        active_steps=R.c.active_steps + bindparam("p_active"),
        steps_unfinished=R.c.steps_unfinished + bindparam("p_unfinished"),
        steps_failed=R.c.steps_failed + bindparam("p_failed"),
        steps_waiting=R.c.steps_waiting + bindparam("p_waiting"),
    )
    .returning(
        R.c.status, R.c.active_steps, R.c.steps_unfinished, R.c.steps_waiting, R.c.steps_failed
    )
)


#: the changes leave a RUNNING run with no unfinished and no failed step: it SUCCEEDED
#: (compared on the row as it was: every SET expression of an UPDATE reads the old row)
_SUCCEEDS = (
    (R.c.status == RunStatus.RUNNING.value)
    & (R.c.steps_unfinished + bindparam("p_unfinished") == 0)
    & (R.c.steps_failed + bindparam("p_failed") == 0)
)

#: ``APPLY`` that also ends the run SUCCEEDED when the changes finish it — what
#: ``RunAdvance`` would write next in a statement of its own (a run with workflow outputs
#: renders them first: it keeps the two statements)
APPLY_AND_END = APPLY.values(
    status=case((_SUCCEEDS, literal(RunStatus.SUCCEEDED.value)), else_=R.c.status),
    ended_at=case((_SUCCEEDS, bindparam("p_now", type_=R.c.ended_at.type)), else_=R.c.ended_at),
    outputs=case((_SUCCEEDS, bindparam("p_outputs", type_=R.c.outputs.type)), else_=R.c.outputs),
    error=case((_SUCCEEDS, null()), else_=R.c.error),
)


@dataclass
class RunCounters:
    run_id: int
    status: RunStatus
    active: int
    max_active: int
    unfinished: int
    waiting: int
    #: the run's failed steps as this unit wrote them (None: not written by ``APPLY``, whose
    #: UPDATE also holds the row: its status stays as returned until the unit ends)
    failed: int | None = None
    d_active: int = 0
    d_unfinished: int = 0
    d_failed: int = 0
    d_waiting: int = 0

    @classmethod
    def read(cls, conn: Connection, run_id: int) -> RunCounters:
        row: Any = direct.execute(conn, _SNAPSHOT, {"p_run": run_id}).one()
        return cls(
            run_id,
            RunStatus(row.status),
            row.active_steps,
            row.max_active_steps,
            row.steps_unfinished,
            row.steps_waiting,
        )

    @property
    def free_slots(self) -> int:
        if self.status is not RunStatus.RUNNING:
            return 0
        return max(0, self.max_active - self.active - self.d_active)

    @property
    def steps_waiting(self) -> int:
        return self.waiting + self.d_waiting

    @property
    def changed(self) -> bool:
        return any((self.d_active, self.d_unfinished, self.d_failed, self.d_waiting))

    def write(self, conn: Connection) -> None:
        """Apply this unit's changes; afterwards the snapshot is the row as written."""
        if not self.changed:
            return
        self.written(direct.execute(conn, APPLY, self.params()).first())

    def write_or_end(self, conn: Connection, now: datetime, outputs: dict[str, Any]) -> bool:
        """Apply this unit's changes and, when they leave the RUNNING run with no unfinished
        and no failed step, end it SUCCEEDED at ``now`` with ``outputs``, in one statement.
        True: it ended, from RUNNING (its event is the caller's to record). A run that goes
        on as this unit saw it gets the plain ``APPLY`` (the ``CASE``s and two more
        parameters would cost every step's end of a fan-out, for nothing); on PostgreSQL
        others may have finished meanwhile: the caller ends the run in a statement of its
        own then."""
        if not self.changed:
            return False
        if self.unfinished + self.d_unfinished > 0:
            self.write(conn)
            return False
        params = {**self.params(), "p_now": now, "p_outputs": outputs}
        self.written(direct.execute(conn, APPLY_AND_END, params).first())
        # the statement matched an active run only: SUCCEEDED now is this statement's doing
        return self.status is RunStatus.SUCCEEDED

    def params(self) -> dict[str, Any]:
        """The parameters of :data:`APPLY` for this unit's changes."""
        return {
            "p_run": self.run_id,
            "p_active": self.d_active,
            "p_unfinished": self.d_unfinished,
            "p_failed": self.d_failed,
            "p_waiting": self.d_waiting,
        }

    def written(self, row: Any) -> None:
        """What :data:`APPLY` returned (None: it matched nothing): the snapshot is now the
        row as written, and nothing is left to write."""
        if row is None:
            raise ConcurrentChange(f"run {self.run_id} changed under this unit of work")
        self.status = RunStatus(row.status)
        self.active, self.unfinished, self.waiting = (
            row.active_steps,
            row.steps_unfinished,
            row.steps_waiting,
        )
        self.failed = getattr(row, "steps_failed", None)
        self.d_active = self.d_unfinished = self.d_failed = self.d_waiting = 0

    def discard(self) -> None:
        self.d_active = self.d_unfinished = self.d_failed = self.d_waiting = 0
