"""Following a run's logs while its attempts are claimed out of order (maestro/cli/logs.py)."""

from __future__ import annotations

from pathlib import Path

from maestro.cli.logs import LogFollower
from tests.engine.harness import Harness

TWO = """
id: two
owner: t
steps:
  - {id: first, type: shell, shell: {command: "echo from first"}}
  - {id: second, type: shell, shell: {command: "echo from second"}}
"""


def test_an_attempt_claimed_after_a_later_one_is_still_followed(
    db_url: str, tmp_path: Path
) -> None:
    harness = Harness(db_url, tmp_path)
    try:
        run_id = harness.start(TWO)
        lines: list[tuple[str, str]] = []
        follower = LogFollower(lambda label, line: lines.append((label, line)))
        first, second = sorted(harness.dispatcher.pending, key=lambda d: d.attempt_id)
        harness.dispatcher.pending.clear()
        harness.executor.execute(second.attempt_id)  # the later attempt runs first
        with harness.db.read() as conn:
            follower.poll(conn, run_id)
        harness.executor.execute(first.attempt_id)
        with harness.db.read() as conn:
            follower.poll(conn, run_id)
        follower.flush()
        said = {(label, line) for label, line in lines if line.startswith("from")}
        assert said == {("first", "from first"), ("second", "from second")}
        assert len([1 for _, line in lines if line == "from second"]) == 1  # once each
    finally:
        harness.close()
