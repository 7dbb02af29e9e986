"""Issue 16, the run page: what it says about runs that never started, failed, were skipped,
restarted or reused results, and the timeline of steps that run child runs. Each test failed
before its fix."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient

from api.web import explain
from maestro import reads
from maestro.engine import actions
from maestro.reads import StepSummary
from maestro.states import StepStatus
from tests.engine.harness import Harness
from tests.web.conftest import flaky, post_form

SEQUENTIAL = (
    "id: seq\nowner: o\nrun_strategy: sequential\n"
    "steps:\n  - {id: a, type: sleep, sleep: {duration: 1h}}\n"
    "  - {id: b, type: noop, depends_on: [a]}\n"
)


def _new_run(response_location: str) -> int:
    return int(response_location.rsplit("/", 1)[1])


def _dag_of(html: str) -> str:
    found = re.search(r'<svg class="dag".*?</svg>', html, re.S)
    assert found is not None
    return found.group(0)


def test_a_run_stopped_while_queued_shows_its_steps_as_not_created_without_links(
    client: TestClient, harness: Harness
) -> None:
    harness.submit(SEQUENTIAL)
    post_form(client, "/workflows/seq/start")  # runs (sleeps an hour)
    queued = _new_run(post_form(client, "/workflows/seq/start").headers["location"])
    with harness.db.read() as conn:
        assert reads.run_detail(conn, queued).status == "QUEUED"
    assert post_form(client, f"/runs/{queued}/stop").status_code == 303
    html = client.get(f"/runs/{queued}").text
    dag = _dag_of(html)
    assert "<a " not in dag, "a step that was never created links to a 404"
    assert "pending" not in dag
    assert dag.count('data-status="NOT_CREATED"') == 2 and dag.count("not created") >= 2
    assert "No steps were created: the run was stopped before it started." in html
    for link in set(re.findall(rf'href="(/runs/{queued}/steps/[^"#]+)', html)):
        assert client.get(link).status_code == 200, link


def test_why_names_the_failed_step_and_counts_those_not_run_because_of_it(
    client: TestClient, harness: Harness, tmp_path: Path
) -> None:
    yaml = flaky(tmp_path) + "  - id: report\n    type: noop\n    depends_on: [load]\n"
    run_id = harness.start(yaml)
    harness.drain(run_id)
    with harness.db.read() as conn:
        run = reads.run_detail(conn, run_id)
    assert run.step_counts == {"SUCCEEDED": 1, "FAILED": 1, "UPSTREAM_FAILED": 2}
    html = client.get(f"/runs/{run_id}").text
    assert "<strong>Why:</strong> transform failed; 2 steps not run because of it</p>" in html
    assert "3 steps failed" not in html


def test_restart_from_failed_is_not_offered_for_a_run_with_skipped_steps(
    client: TestClient, harness: Harness
) -> None:
    run_id = harness.start(
        "id: cond\nowner: o\nsteps:\n  - {id: a, type: noop}\n"
        "  - {id: b, type: noop, depends_on: [a], when: 'false'}\n"
    )
    assert harness.drain(run_id).status == "SUCCEEDED"
    assert harness.statuses(run_id)["b"] == "SKIPPED"
    html = client.get(f"/runs/{run_id}").text
    assert "Restart from failed" not in html and "Restart from the beginning" in html
    refused = post_form(client, f"/runs/{run_id}/restart", {"mode": "failed"})
    assert refused.status_code == 409 and "no failed step" in refused.text
    with harness.db.read() as conn:
        assert [r.id for r in reads.run_history(conn, "cond").items] == [run_id]


def _restarted(client: TestClient, harness: Harness, tmp_path: Path) -> tuple[int, int]:
    """A failed run of ``sales`` (whose ids differ from its numbers) and its restart."""
    other = harness.start("id: other\nowner: o\nsteps: [{id: a, type: noop}]\n")
    harness.drain(other)
    failed = harness.start(flaky(tmp_path))
    harness.drain(failed)
    (tmp_path / "flag").touch()
    response = post_form(client, f"/runs/{failed}/restart", {"mode": "failed"})
    new = _new_run(response.headers["location"])
    assert harness.drain(new).status == "SUCCEEDED"
    assert (failed, new) != (1, 2)  # ids are not the numbers #1 and #2
    return failed, new


def test_a_restarted_run_links_to_its_restart_by_number_and_back(
    client: TestClient, harness: Harness, tmp_path: Path
) -> None:
    failed, new = _restarted(client, harness, tmp_path)
    old_html = client.get(f"/runs/{failed}").text
    assert f'<dt>Restarted as</dt><dd><a href="/runs/{new}">run #2</a>' in old_html
    assert "Restart from failed" not in old_html  # it was restarted already
    new_html = client.get(f"/runs/{new}").text
    assert f'<dt>Restarted from</dt><dd><a href="/runs/{failed}">run #1</a>' in new_html
    assert f"run {failed}<" not in new_html  # never the internal id as if it were a number


def test_a_reused_step_shows_the_attempt_it_reused_with_its_log(
    client: TestClient, harness: Harness, tmp_path: Path
) -> None:
    failed, new = _restarted(client, harness, tmp_path)
    attempt = f"/runs/{failed}/steps/extract/attempts/1"
    run_html = client.get(f"/runs/{new}").text
    assert f'<a class="reused" href="{attempt}"' in run_html and "reused: run #1" in run_html
    assert 'aria-label="extract: succeeded, shell, reused from run #1"' in run_html  # the DAG
    step_html = client.get(f"/runs/{new}/steps/extract").text
    assert "No attempt yet" not in step_html
    assert f'href="{attempt}#log">log</a>' in step_html and 'href="/runs/' in step_html
    assert "extracting" in client.get(attempt).text  # the log it leads to
    # a restart of the restart (from load) reused extract's result twice: the attempt that
    # produced it is two runs back
    third = actions.restart_run(harness.engine, new, "tester", mode="step", step_id="load")
    harness.drain(third)
    third_html = client.get(f"/runs/{third}/steps/extract").text
    assert f'href="{attempt}#log">log</a>' in third_html and "run #1</a>" in third_html


def test_the_timeline_covers_foreach_and_subworkflow_steps(
    client: TestClient, harness: Harness
) -> None:
    harness.executor.follow = None  # one attempt per step_once, the clock moved between
    harness.submit("id: child\nowner: o\nsteps: [{id: c, type: noop}]\n")
    run_id = harness.start(
        "id: fe\nowner: o\nsteps:\n  - {id: first, type: noop}\n"
        "  - id: each\n    type: foreach\n    depends_on: [first]\n    foreach:\n"
        "      items: '[1, 2]'\n      as: n\n"
        "      steps: [{id: inner, type: shell, shell: {command: 'true'}}]\n"
        "  - {id: sub, type: subworkflow, depends_on: [each], subworkflow: {workflow: child}}\n"
    )
    for _ in range(200):  # every attempt a second after the one before
        if harness.step_once():
            harness.clock.advance(1.0)
            continue
        harness.scheduler.tick()
        if harness.dispatcher.pending:
            continue
        if harness.view(run_id).status == "SUCCEEDED":
            break
        harness.clock.advance(1.0)
    assert harness.view(run_id).status == "SUCCEEDED"
    html = client.get(f"/runs/{run_id}").text
    gantt = re.search(r'<svg class="gantt".*?</svg>', html, re.S)
    assert gantt is not None
    rows = re.findall(r'text-anchor="end" class="label">(\w+)</text>', gantt.group(0))
    assert rows == ["first", "each", "sub"]
    assert 'class="span" data-step="each"' in gantt.group(0)
    assert 'class="span" data-step="sub"' in gantt.group(0)
    # the axis spans the whole run (its children's attempts a second apart), not the noop's instant
    ticks = re.findall(r'class="tick">\+([^<]+)</text>', gantt.group(0))
    assert ticks[-1].endswith("s") and not ticks[-1].endswith("ms"), ticks


def _state(step_id: str, status: str) -> StepSummary:
    return StepSummary(
        step_id=step_id,
        step_type="shell",
        position=0,
        status=StepStatus(status),
        attempt_count=1,
        waiting_for=None,
        next_attempt_at=None,
        outputs={},
        error=None,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        started_at=None,
        ended_at=None,
        children_total=0,
        children_started=0,
        children_done=0,
        children_failed=0,
    )


def test_why_words_several_failures_and_keeps_other_errors() -> None:
    steps = [
        _state("a", "FAILED"),
        _state("b", "FAILED"),
        _state("c", "TIMED_OUT"),
        _state("d", "UPSTREAM_FAILED"),
        _state("e", "SKIPPED"),
        _state("f", "SUCCEEDED"),
    ]
    assert explain.why("4 steps failed", steps) == (
        "a and b failed; c timed out; 1 step not run because of them"
    )
    many = [_state(f"s{i}", "FAILED") for i in range(5)]
    assert explain.why("5 steps failed", many) == "s0, s1, s2 and 2 more failed"
    assert explain.why("run timed out after 1h", steps) == "run timed out after 1h"
    assert explain.why(None, steps) is None
    assert not explain.has_failed([_state("e", "SKIPPED"), _state("f", "SUCCEEDED")])
    assert explain.has_failed([_state("d", "UPSTREAM_FAILED")])
