"""SQL statements per step handoff: claim the upstream attempt, report it SUCCEEDED, and with
that queue the downstream step — the control plane's share of one handoff, counted on the
connection (``before_cursor_execute``), for a 3-step chain and for a fan-out of 49 (20 go,
the run's ``max_active_steps``; 29 wait for a slot); and ``followed``: the next step's report
claiming its successor in the same transaction, as workers do. On SQLite, an INSERT of
several attempts that returns their ids in order runs once per row (SQLAlchemy cannot trust
the order of SQLite's RETURNING) and counts as that many: in-process calls, no round trips,
and faster than one multi-row INSERT compiled at each call (measured).

    python -m bench.statements [--database-url URL]

SQLite in a temporary folder unless a URL is given (PostgreSQL: ``source scripts/pg.sh``
and pass ``$MAESTRO_TEST_DATABASE_URL``). Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text

from maestro.definition import parse_definition
from maestro.dispatch import Dispatch
from maestro.engine import attempts
from maestro.engine.core import Engine
from maestro.engine.runs import create_run
from maestro.engine.start import start_run
from maestro.engine.workflows import submit
from maestro.settings import load_settings
from maestro.states import AttemptStatus
from maestro.store.db import Database
from maestro.store.migrate import upgrade


class Collect:
    def __init__(self) -> None:
        self.pending: list[Dispatch] = []

    def take(self, dispatches: list[Dispatch]) -> tuple[Dispatch, bool] | None:
        """Follow on to the report's first successor, as workers do (``dispatch.Follow``)."""
        return (dispatches.pop(0), True) if dispatches else None

    def give_back(self, taken: Dispatch) -> None:
        pass

    def send(self, dispatches: Sequence[Dispatch]) -> None:
        self.pending.extend(dispatches)

    def cancel(self, attempt_ids: Sequence[int]) -> None:
        pass


@contextmanager
def counted(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        seen.append(statement.split(None, 1)[0].upper())

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def handoff(eng: Engine, sink: Collect, doc: dict[str, Any]) -> dict[str, int]:
    definition = parse_definition(doc)
    before = {d.attempt_id for d in sink.pending}  # an earlier measure's leftovers
    with eng.unit() as u:
        submit(u, definition)
    with eng.unit() as u:
        run_id = create_run(u, eng.versions, definition.id)
        start_run(u, eng.versions, run_id)
    sink.pending = [d for d in sink.pending if d.attempt_id not in before]
    first, sink.pending = sink.pending[0], []
    with counted(eng.db) as claim_sql:
        assert attempts.claim(eng, first.attempt_id, "bench") is not None
    with counted(eng.db) as report_sql:
        done = attempts.AttemptResult(AttemptStatus.SUCCEEDED)
        assert attempts.report(eng, first.attempt_id, done, "bench")
    assert sink.pending, "the downstream step was not queued"
    second, sink.pending = sink.pending[0], sink.pending[1:]
    assert attempts.claim(eng, second.attempt_id, "bench") is not None
    with counted(eng.db) as followed_sql:  # the report claims the successor it makes ready
        _, following = attempts.report_and_follow(eng, second.attempt_id, done, "bench", sink)
    return {
        "claim": len(claim_sql),
        "report": len(report_sql),
        "total": len(claim_sql) + len(report_sql),
        # the next step's report, claiming its own successor in the same transaction
        "followed": len(followed_sql) if following is not None else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        url = args.database_url or f"sqlite:///{Path(home) / 'bench.db'}"
        settings = load_settings(home=Path(home), database_url=url)
        db = Database(url)
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        upgrade(db)
        sink = Collect()
        eng = Engine(db, settings, dispatcher=sink)
        chain = {
            "id": "chain",
            "owner": "bench",
            "steps": [
                {"id": "a", "type": "noop"},
                {"id": "b", "type": "noop", "depends_on": ["a"]},
                {"id": "c", "type": "noop", "depends_on": ["b"]},
            ],
        }
        fan_in = {
            "id": "fanin",
            "owner": "bench",
            "steps": [{"id": "a", "type": "noop"}]
            + [{"id": f"u{i}", "type": "noop", "depends_on": ["a"]} for i in range(49)],
        }
        result = {
            "database": db.engine.dialect.name,
            "chain_handoff": handoff(eng, sink, chain),
            "fan_out_49": handoff(eng, sink, fan_in),
        }
        db.dispose()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
