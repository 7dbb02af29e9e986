"""A worker that reports an attempt claims its next one in the same transaction
(``maestro.dispatch.Follow``, ``engine.attempts.report_and_follow``)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from maestro.dispatch import Dispatch
from maestro.engine import attempts
from maestro.engine.attempts import AttemptResult, report_and_follow
from maestro.ids import AttemptId
from maestro.states import AttemptStatus
from maestro.store import tables
from tests.engine.harness import Harness
from workers.local import _STOP, LocalDispatcher

CHAIN = """
id: chain
owner: t
steps:
  - {id: a, type: noop}
  - {id: b, type: noop, depends_on: [a]}
  - {id: c, type: noop, depends_on: [b]}
"""

FAN = """
id: fan
owner: t
steps:
  - {id: a, type: noop}
  - {id: low, type: noop, depends_on: [a], priority: 1}
  - {id: high, type: noop, depends_on: [a], priority: 5}
"""


class FromElsewhere:
    """Takes a given attempt, as if from a local queue, and records what it is handed back."""

    def __init__(self, attempt_id: int) -> None:
        self.attempt_id = attempt_id
        self.given_back: list[Dispatch] = []

    def take(self, dispatches: list[Dispatch]) -> tuple[Dispatch, bool] | None:
        return Dispatch(AttemptId(self.attempt_id), "default", 3), False

    def give_back(self, taken: Dispatch) -> None:
        self.given_back.append(taken)


def _claimed(harness: Harness, attempt_id: int) -> None:
    assert attempts.claim(harness.engine, attempt_id, "w") is not None


def test_a_chain_runs_on_one_worker_each_successor_claimed_with_the_report(
    harness: Harness,
) -> None:
    run_id = harness.start(CHAIN)
    first = harness.dispatcher.pending.pop(0)
    harness.executor.execute(first.attempt_id)
    assert harness.statuses(run_id) == {"a": "SUCCEEDED", "b": "SUCCEEDED", "c": "SUCCEEDED"}
    assert harness.dispatcher.pending == []  # nothing was sent: b and c were followed on to
    assert len(harness.dispatcher.followed) == 2
    e, s = tables.events, tables.step_runs
    with harness.db.read() as conn:
        rows = conn.execute(
            select(e.c.entity, e.c.from_status, e.c.to_status)
            .join(s, s.c.id == e.c.step_run_id)
            .where(e.c.run_id == run_id, s.c.step_id == "b")
            .order_by(e.c.id)
        ).all()
    # the successor still goes through QUEUED: every transition has its event, in order
    assert [tuple(r) for r in rows] == [
        ("step", None, "PENDING"),
        ("attempt", None, "QUEUED"),
        ("step", "PENDING", "QUEUED"),
        ("attempt", "QUEUED", "RUNNING"),
        ("step", "QUEUED", "RUNNING"),
        ("attempt", "RUNNING", "SUCCEEDED"),
        ("step", "RUNNING", "SUCCEEDED"),
    ]


def test_the_followed_successor_is_the_highest_priority_and_the_others_are_sent(
    harness: Harness,
) -> None:
    run_id = harness.start(FAN)
    first = harness.dispatcher.pending.pop(0)
    claimed = attempts.claim(harness.engine, first.attempt_id, "w")
    assert claimed is not None
    ended, following = report_and_follow(
        harness.engine,
        first.attempt_id,
        AttemptResult(AttemptStatus.SUCCEEDED),
        "w",
        harness.dispatcher,
    )
    assert ended and following is not None
    assert following.step_id == "high"
    assert harness.statuses(run_id)["high"] == "RUNNING"  # claimed in the report's commit
    assert harness.statuses(run_id)["low"] == "QUEUED"
    assert len(harness.dispatcher.pending) == 1  # low was sent as usual


def test_a_report_that_rolls_back_hands_back_what_it_took_and_changes_nothing(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = harness.start(FAN)
    first = harness.dispatcher.pending.pop(0)
    _claimed(harness, first.attempt_id)

    def broken(*_args: object) -> None:
        raise RuntimeError("the claim failed")

    follow = FromElsewhere(12345)
    monkeypatch.setattr(attempts, "claim_in", broken)
    with pytest.raises(RuntimeError):
        report_and_follow(
            harness.engine, first.attempt_id, AttemptResult(AttemptStatus.SUCCEEDED), "w", follow
        )
    assert [d.attempt_id for d in follow.given_back] == [12345]
    assert follow.given_back[0].priority == 3  # handed back as it was taken
    assert harness.statuses(run_id)["a"] == "RUNNING"  # the report rolled back with the claim
    monkeypatch.undo()
    assert attempts.report(harness.engine, first.attempt_id, AttemptResult(AttemptStatus.SUCCEEDED))
    assert harness.statuses(run_id)["a"] == "SUCCEEDED"


def test_a_lost_attempt_is_reported_without_following_on(harness: Harness) -> None:
    """A worker shutting down reports its attempts LOST: it must not take new work."""
    run_id = harness.start(CHAIN)
    first = harness.dispatcher.pending.pop(0)
    claimed = attempts.claim(harness.engine, first.attempt_id, "w")
    assert claimed is not None
    lost = AttemptResult(AttemptStatus.LOST, error="the worker shut down")
    assert harness.executor._report(first.attempt_id, lost) is None
    assert harness.dispatcher.followed == []
    assert harness.statuses(run_id)["a"] in ("RETRYING", "QUEUED")


def test_the_local_dispatcher_takes_the_queue_head_and_leaves_the_stop_marker(
    tmp_path: Path,
) -> None:
    class Idle:  # an executor that is never asked to run anything here
        follow = None

        def execute(self, attempt_id: int) -> None:
            raise AssertionError("no thread should run anything")

        def close(self) -> None:
            pass

    local = LocalDispatcher(Idle(), 0)  # type: ignore[arg-type]  # no threads: the queue only
    assert local.take([]) is None
    local.send([Dispatch(AttemptId(1), "default", 1), Dispatch(AttemptId(2), "default", 7)])
    taken = local.take([])
    assert taken is not None and taken[0].attempt_id == 2 and taken[1] is False
    local.give_back(taken[0])  # its priority kept: it comes out first again
    again = local.take([])
    assert again is not None and again[0].attempt_id == 2
    own = [Dispatch(AttemptId(5), "default", 0), Dispatch(AttemptId(6), "default", 9)]
    chosen = local.take(own)
    assert chosen is not None and chosen == (Dispatch(AttemptId(6), "default", 9), True)
    assert own == [Dispatch(AttemptId(5), "default", 0)]
    rest = local.take([])
    assert rest is not None and rest[0].attempt_id == 1
    local._queue.put((1 << 62, 0, _STOP))  # closing: the marker is left for a thread
    assert local.take([]) is None
    assert local._queue.qsize() == 1


TEMPLATED = """
id: templated
owner: t
params: {x: {type: int, default: 2}}
steps:
  - {id: a, type: noop}
  - id: b
    type: shell
    depends_on: [a]
    timeout: 1h
    env: {WHO: "{{ run.number }}-{{ params.x }}-{{ steps.a.outputs.v }}"}
    shell: {command: "echo {{ run.id }} {{ params.x * steps.a.outputs.v }}"}
"""


@pytest.mark.parametrize("follow", [True, False])
def test_a_followed_claim_is_the_claim_of_its_own(harness: Harness, follow: bool) -> None:
    """On SQLite a successor queued by the same unit is claimed from the rows the unit wrote
    (``Unit.queued_here``), not read again: it renders and starts as a claim of its own."""
    eng = harness.engine
    run_id = harness.start(TEMPLATED)
    first = harness.dispatcher.pending.pop(0)
    assert attempts.claim(eng, first.attempt_id, "w") is not None
    done = AttemptResult(AttemptStatus.SUCCEEDED, outputs={"v": 3})
    if follow:
        _, claimed = report_and_follow(eng, first.attempt_id, done, "w", harness.dispatcher)
        assert harness.dispatcher.pending == []
    else:
        attempts.report(eng, first.attempt_id, done, "w")
        claimed = attempts.claim(eng, harness.dispatcher.pending.pop(0).attempt_id, "w")
    assert claimed is not None
    assert (claimed.step_id, claimed.number, claimed.render_error) == ("b", 1, None)
    assert claimed.settings["command"] == f"echo {run_id} 6"
    assert claimed.env["WHO"] == "1-2-3"
    assert claimed.env["MAESTRO_RUN_ID"] == str(run_id)
    assert claimed.timeout == timedelta(hours=1)
    assert claimed.log_path.parts[-3:] == (str(run_id), "b", "1.log")
    assert harness.statuses(run_id) == {"a": "SUCCEEDED", "b": "RUNNING"}
    with harness.db.read() as conn:
        started = conn.execute(
            select(tables.attempts.c.started_at, tables.attempts.c.timeout_at).where(
                tables.attempts.c.id == claimed.attempt_id
            )
        ).one()
    assert started.timeout_at - started.started_at == timedelta(hours=1)
