"""What expressions see: ``params``, ``run``, ``steps`` and ``signal`` (spec: "In scope").

``steps`` is lazy: ``steps.load.outputs`` reads that one step's row when the expression asks
for it, so rendering never loads the whole run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from sqlalchemy import Connection, bindparam, select

from maestro.store import direct, tables
from maestro.store.records import RunRow

S, R = tables.step_runs, tables.runs

#: built once (the scope of every step that renders anything reads through these)
_STEP = select(S.c.status, S.c.outputs, S.c.params).where(
    S.c.run_id == bindparam("p_run"), S.c.step_id == bindparam("p_step")
)
_PARENT = select(R.c.parent_run_id, R.c.body).where(R.c.id == bindparam("p_run"))


class StepsView(Mapping[str, Mapping[str, Any]]):
    """``steps.<id>`` → ``{"status", "outputs", "params"}`` of a step of the run — or, inside a
    foreach iteration, of the enclosing DAGs' runs — read on demand."""

    def __init__(
        self,
        conn: Connection,
        run_id: int,
        parents: tuple[int, ...] | Callable[[], tuple[int, ...]] = (),
    ) -> None:
        """``parents``: the enclosing runs, or how to find them when first needed."""
        self._conn = conn
        self._run_id = run_id
        self._parents = parents
        self._cache: dict[str, Mapping[str, Any]] = {}

    def _runs(self) -> Iterator[int]:
        yield self._run_id
        if callable(self._parents):
            self._parents = self._parents()
        yield from self._parents

    def __getitem__(self, step_id: str) -> Mapping[str, Any]:
        if step_id not in self._cache:
            for run_id in self._runs():
                row = direct.execute(
                    self._conn, _STEP, {"p_run": run_id, "p_step": step_id}
                ).first()
                if row is not None:
                    break
            else:
                raise KeyError(step_id)
            self._cache[step_id] = {
                "status": row.status,
                "outputs": row.outputs or {},
                "params": row.params or {},
            }
        return self._cache[step_id]

    def __iter__(self) -> Iterator[str]:
        ids = self._conn.execute(select(S.c.step_id).where(S.c.run_id == self._run_id)).scalars()
        return iter(list(ids))

    def __len__(self) -> int:
        return sum(1 for _ in self)


def run_scope(run: RunRow) -> dict[str, Any]:
    return {
        "id": run.id,
        "number": run.number,
        "workflow_id": run.workflow_id,
        "version": run.version,
        "trigger": run.trigger,
        "logical_date": run.logical_date,
        "started_at": run.started_at or run.created_at,
    }


def expression_context(conn: Connection, run: RunRow) -> dict[str, Any]:
    context: dict[str, Any] = {
        "params": run.params,
        "run": run_scope(run),
        # the enclosing runs are looked up only if an expression reads a step not of this run
        "steps": StepsView(conn, run.id, lambda: _enclosing_runs(conn, run)),
        "signal": (run.scope or {}).get("signal", {}),
    }
    if run.scope and "index" in run.scope:  # a foreach iteration: its item(s), its index
        context.update(run.scope.get("outer", {}))  # enclosing iterations' names, shadowed
        if "var" in run.scope:
            context[run.scope["var"]] = run.scope["item"]
        context.update(run.scope.get("vars", {}))  # a matrix iteration's names
        context["index"] = run.scope["index"]
    return context


def _enclosing_runs(conn: Connection, run: RunRow) -> tuple[int, ...]:
    """The runs of the DAGs enclosing a foreach iteration, innermost first."""
    if run.body is None or run.parent_run_id is None:
        return ()
    chain: list[int] = []
    current: int | None = run.parent_run_id
    while current is not None:
        chain.append(current)
        row = direct.execute(conn, _PARENT, {"p_run": current}).first()
        current = row.parent_run_id if row is not None and row.body is not None else None
    return tuple(chain)
