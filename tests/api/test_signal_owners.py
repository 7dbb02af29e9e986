"""A signal acts for the owners its sender may act for: a write token of one owner cannot
start another owner's signal-triggered workflow, unless that trigger's `from` lists it."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from maestro.store import tables
from tests.api.conftest import Tokens
from tests.engine.harness import Harness

YAML = {"Content-Type": "application/yaml"}


def _triggered(owner: str, frm: str = "") -> str:
    return (
        f"id: on_landed\nowner: {owner}\n"
        f"triggers:\n  - {{signal: landed{', ' + frm if frm else ''}}}\n"
        "steps: [{id: a, type: noop}]\n"
    )


def _runs(harness: Harness) -> list[tuple[int, str]]:
    runs, events = tables.runs, tables.events
    with harness.db.read() as conn:
        ids = conn.execute(
            select(runs.c.id).where(runs.c.workflow_id == "on_landed").order_by(runs.c.id)
        ).scalars()
        return [
            (
                run_id,
                conn.execute(
                    select(events.c.actor)
                    .where(events.c.run_id == run_id)
                    .order_by(events.c.id)
                    .limit(1)
                ).scalar_one(),
            )
            for run_id in ids
        ]


def _send(authed: Tokens, who: str) -> Any:
    answer = authed.call(who, "POST", "/signals", json={"name": "landed", "payload": {}})
    assert answer.status_code == 202, answer.text
    return answer.json()


@pytest.mark.parametrize(
    ("frm", "sender", "starts"),
    [
        ("", "write-b", False),  # another owner's token: refused
        ("", "write-a", True),  # the workflow's own owner
        ("", "admin", True),  # an admin acts for every owner
        ("", "write-any", True),  # a token limited to no owner, too
        ("from: [team-b]", "write-b", True),  # the trigger lets team-b in
        ("from: ['*']", "write-b", True),
        ("from: [team-c]", "write-b", False),
    ],
)
def test_a_signal_starts_only_what_its_sender_may_start(
    authed: Tokens, harness: Harness, frm: str, sender: str, starts: bool
) -> None:
    submitted = authed.call(
        "admin", "POST", "/workflows", content=_triggered("team-a", frm), headers=YAML
    )
    assert submitted.status_code == 201, submitted.text
    accepted = _send(authed, sender)
    runs = _runs(harness)
    assert bool(accepted["runs_started"]) is starts
    assert len(runs) == (1 if starts else 0)
    if starts:
        assert runs[0][1] == sender  # the run's first event names the token, not "system"


def test_a_workflow_emitting_a_signal_acts_for_its_own_owner(harness: Harness) -> None:
    harness.submit(_triggered("team-a"))
    emitter = """
        id: emitter
        owner: team-b
        steps: [{id: e, type: noop, emit: [{signal: landed}]}]
        """
    assert harness.drain(harness.start(emitter)).status == "SUCCEEDED"
    assert _runs(harness) == []  # team-b's workflow cannot start team-a's
    harness.submit(_triggered("team-a", "from: [team-b]"))
    assert harness.drain(harness.start(emitter)).status == "SUCCEEDED"
    assert len(_runs(harness)) == 1
