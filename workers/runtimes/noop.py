"""The ``noop`` step type: succeeds at once with no outputs.

It exists as a join point in a DAG, or as a step that only waits for signals (``wait_for``)
or only emits them; the executor handles those parts, so the runtime has nothing to do.
"""

from __future__ import annotations

from workers.runtimes.base import Outcome, RuntimeContext


class NoopRuntime:
    """Does nothing and succeeds."""

    def run(self, ctx: RuntimeContext) -> Outcome:
        return Outcome.ok()
