"""Runs that raise alerts, and alerts in a chosen state: what the tests of the alert surfaces
(API, CLI, web view, metrics) read. Rows are written by the engine itself — a run with a failing
step and alert rules, drained by the harness — never inserted by hand; a FAILED alert is made
with the store call the sender uses when it gives up."""

from __future__ import annotations

import textwrap

from sqlalchemy import select

from maestro.store import alerts as alert_rows
from maestro.store import tables
from tests.engine.harness import Harness

#: a secret-looking webhook URL: its user, password and query value must never be shown
HOOK = "https://bot:pw-hidden@hooks.example.com/maestro?token=tok-hidden"

#: three rules: a webhook and a Slack channel on the run's failure, a callable on the step's
FAILING = """
id: {id}
owner: {owner}
alerts:
  - on: [run_failed]
    webhook:
      url: "{url}"
      headers: {{Authorization: "Bearer hdr-hidden"}}
  - on: [run_failed]
    slack: {{connection: team_slack, channel: "#data"}}
steps:
  - id: load
    type: shell
    shell: {{command: "exit 3"}}
    alerts:
      - on: [step_failed]
        python: {{callable: "hooks.notify:page"}}
"""


def failing(id: str = "etl", owner: str = "team-a", url: str = HOOK) -> str:
    return textwrap.dedent(FAILING.format(id=id, owner=owner, url=url))


def failed_run(h: Harness, id: str = "etl", owner: str = "team-a", url: str = HOOK) -> int:
    """A FAILED run of workflow ``id`` with its three PENDING alerts."""
    run_id = h.start(failing(id, owner, url))
    assert h.drain(run_id).status == "FAILED"
    return run_id


def alert_ids(h: Harness, run_id: int | None = None) -> list[int]:
    """The alerts' ids (of one run, when given), oldest first."""
    AL = tables.alerts
    query = select(AL.c.id).order_by(AL.c.id)
    if run_id is not None:
        query = query.where(AL.c.run_id == run_id)
    with h.db.read() as conn:
        return list(conn.execute(query).scalars())


def alert_of(h: Harness, run_id: int, channel: str) -> int:
    AL = tables.alerts
    with h.db.read() as conn:
        found: int = conn.execute(
            select(AL.c.id).where(AL.c.run_id == run_id, AL.c.channel == channel)
        ).scalar_one()
    return found


def mark_failed(h: Harness, alert_id: int, error: str = "webhook: 503 Service Unavailable") -> None:
    """Make a PENDING alert FAILED, as the sender does when its tries run out."""
    with h.db.tx() as conn:
        alert_rows.try_failed(conn, alert_id, error, h.clock.now(), None)
