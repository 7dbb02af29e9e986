"""The scheduler's and the hot path's reads are index-backed: none scans a whole table."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import event, text

from tests.engine.harness import Harness


def _captured_selects(harness: Harness, action: Any) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, params))

    event.listen(harness.db.engine, "before_cursor_execute", capture)
    try:
        action()
    finally:
        event.remove(harness.db.engine, "before_cursor_execute", capture)
    return seen


def _plans(harness: Harness, selects: list[tuple[str, Any]]) -> list[str]:
    plans = []
    with harness.db.engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        cur = raw.cursor()
        if harness.db.is_sqlite:
            for statement, params in selects:
                cur.execute(f"EXPLAIN QUERY PLAN {statement}", params)
                plans.append(" | ".join(str(row[-1]) for row in cur.fetchall()))
        else:
            cur.execute("SET enable_seqscan = off")
            for statement, params in selects:
                cur.execute(f"EXPLAIN {statement}", params)
                plans.append(" | ".join(str(row[0]) for row in cur.fetchall()))
        conn.rollback()
    return plans


def _in_contact_for_a_while(harness: Harness) -> None:
    """Past one heartbeat timeout of database contact, so that the LOST pass queries too."""
    harness.clock.advance(harness.settings.heartbeat_timeout + 1)


def test_a_scheduler_pass_scans_no_table(harness: Harness) -> None:
    harness.start("id: q\nowner: t\nsteps: [{id: a, type: noop}, {id: b, type: noop}]\n")
    _in_contact_for_a_while(harness)
    selects = _captured_selects(harness, harness.scheduler.tick)
    assert len(selects) >= 6  # admit, retries, timeouts, lost, run timeouts, unclaimed, next due
    for (statement, _), plan in zip(selects, _plans(harness, selects), strict=True):
        # walking a (partial) index in order is fine; reading the whole table is not
        full_scan = (
            re.search(r"\bSCAN \w+(?! USING)( |$)", plan) is not None
            if harness.db.is_sqlite
            else "Seq Scan" in plan
        )
        assert not full_scan, f"{statement}\n→ {plan}"


def test_the_partial_indexes_serve_the_scheduler(harness: Harness) -> None:
    harness.start("id: q\nowner: t\nsteps: [{id: a, type: noop}]\n")
    _in_contact_for_a_while(harness)
    plans = " ".join(_plans(harness, _captured_selects(harness, harness.scheduler.tick)))
    for index in ("ix_attempts_queued", "ix_attempts_running", "ix_step_runs_retrying"):
        assert index in plans


def test_slot_filling_uses_the_waiting_index(harness: Harness) -> None:
    harness.start(
        "id: w\nowner: t\nmax_active_steps: 1\nsteps: [{id: a, type: noop}, {id: b, type: noop}]\n"
    )
    selects = _captured_selects(harness, harness.step_once)
    waiting = [s for s in selects if "WAITING" in s[0]]
    assert waiting, "finishing a step of a saturated run looks for the next waiting step"
    for plan in _plans(harness, waiting):
        assert "ix_step_runs_waiting" in plan
        # the index is in the wanted order: no sort of every waiting step per completion
        assert "TEMP B-TREE" not in plan and "Sort" not in plan
    with harness.db.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM step_runs WHERE status = 'WAITING'"))
