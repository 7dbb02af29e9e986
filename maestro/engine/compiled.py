"""A workflow version compiled for the hot path: steps by id, successors, upstream counts.

Built once per (workflow, version) and cached: finishing a step looks up its successors here
instead of reading the definition again, which keeps completion O(out-degree).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from maestro.definition import Step, WorkflowDefinition
from maestro.errors import NotFound
from maestro.store import tables


@dataclass(frozen=True)
class CompiledWorkflow:
    workflow_id: str
    version: int
    definition: WorkflowDefinition
    steps: Mapping[str, Step]
    successors: Mapping[str, tuple[str, ...]]
    positions: Mapping[str, int]
    roots: tuple[str, ...]
    #: the foreach body this DAG is ("outer/inner"), or None for the workflow's own DAG
    body: str | None = None
    #: the cache it came from: child runs (foreach bodies, subworkflows) load theirs there
    cache: VersionCache | None = field(default=None, compare=False, repr=False)

    @classmethod
    def build(
        cls,
        workflow_id: str,
        version: int,
        definition: WorkflowDefinition,
        body: str | None = None,
        cache: VersionCache | None = None,
    ) -> CompiledWorkflow:
        steps = {s.id: s for s in definition.steps}
        successors: dict[str, list[str]] = {s.id: [] for s in definition.steps}
        for step in definition.steps:
            for upstream in dict.fromkeys(step.upstreams):
                successors[upstream].append(step.id)
        return cls(
            workflow_id=workflow_id,
            version=version,
            definition=definition,
            steps=steps,
            successors={k: tuple(v) for k, v in successors.items()},
            positions={s.id: i for i, s in enumerate(definition.steps)},
            roots=tuple(s.id for s in definition.steps if not s.upstreams),
            body=body,
            cache=cache,
        )

    def body_of(self, step_id: str) -> CompiledWorkflow:
        """The DAG of a foreach step's body, as a workflow of its own (cached)."""
        path = f"{self.body}/{step_id}" if self.body else step_id
        assert self.cache is not None, "a compiled version without its cache"
        return self.cache.body(self, step_id, path)

    def descendants(self, step_id: str) -> list[str]:
        """Every step downstream of ``step_id``, in definition order."""
        seen: set[str] = set()
        todo = list(self.successors[step_id])
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                todo.extend(self.successors[current])
        return sorted(seen, key=self.positions.__getitem__)

    def upstream_count(self, step_id: str) -> int:
        return len(dict.fromkeys(self.steps[step_id].upstreams))


class VersionCache:
    """A small thread-safe LRU of compiled versions (versions are immutable: never stale)."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._items: OrderedDict[tuple[str, int], CompiledWorkflow] = OrderedDict()
        self._lock = threading.Lock()
        #: one loader per version at a time: the other threads wait for its result
        self._loading: dict[tuple[str, int], threading.Lock] = {}
        self._bodies: dict[tuple[str, int, str], CompiledWorkflow] = {}
        #: the rows of runs whose children are ending (``engine.children``), by run id, as read
        #: once: a run's row never changes after it started but for its status. Kept here, with
        #: the engine's other caches of what does not change, so that it never outlives its
        #: database (ids are per database)
        self.parent_runs: dict[int, Any] = {}

    def put(self, workflow_id: str, version: int, definition: WorkflowDefinition) -> None:
        """Remember a version just submitted, sparing the first run a re-parse."""
        compiled = CompiledWorkflow.build(workflow_id, version, definition, cache=self)
        with self._lock:
            self._items[(workflow_id, version)] = compiled
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def get(self, conn: Connection, workflow_id: str, version: int) -> CompiledWorkflow:
        key = (workflow_id, version)
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        with self._lock:
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            with self._lock:
                found = self._items.get(key)
            if found is None:
                self.put(workflow_id, version, _load_definition(conn, workflow_id, version))
            with self._lock:
                self._loading.pop(key, None)
                return self._items[key]

    def body(self, parent: CompiledWorkflow, step_id: str, path: str) -> CompiledWorkflow:
        with self._lock:
            found = self._bodies.get((parent.workflow_id, parent.version, path))
        if found is not None:
            return found
        inner = parent.steps[step_id].body
        assert inner is not None, f"step {step_id!r} is not a foreach or while"
        # an iteration is no run of the workflow: the workflow's alerts are not the body's
        definition = parent.definition.model_copy(
            update={"steps": inner, "outputs": {}, "triggers": [], "alerts": []}
        )
        compiled = CompiledWorkflow.build(
            parent.workflow_id, parent.version, definition, body=path, cache=self
        )
        with self._lock:
            self._bodies[(parent.workflow_id, parent.version, path)] = compiled
        return compiled

    def for_run(
        self, conn: Connection, workflow_id: str, version: int, body: str | None
    ) -> CompiledWorkflow:
        """The DAG a run executes: its version's, or a foreach body of it."""
        compiled = self.get(conn, workflow_id, version)
        for step_id in body.split("/") if body else ():
            compiled = compiled.body_of(step_id)
        return compiled


def _load_definition(conn: Connection, workflow_id: str, version: int) -> WorkflowDefinition:
    t = tables.workflow_versions
    data: Any = conn.execute(
        select(t.c.definition).where(t.c.workflow_id == workflow_id, t.c.version == version)
    ).scalar()
    if data is None:
        raise NotFound(f"workflow {workflow_id!r} has no version {version}")
    # Stored versions were validated in full when submitted (defaults merged, DAG and
    # expressions checked); the models' own validation is enough to read them back.
    return WorkflowDefinition.model_validate(data)
