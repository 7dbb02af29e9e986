"""The run page's actions beyond Stop/Retry/Skip (``api/web/run_actions.py``, the restart
modes of ``actions.py``): pause, resume and kill a run, stop one step, restart from a chosen
step, retry a step once its run has ended — each shown only when it applies and only to a
writer, the destructive ones behind a confirmation that needs no script, and each refused
without its CSRF value or write scope."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from maestro import reads
from tests.engine.harness import Harness
from tests.web.conftest import Authed, flaky, post_form

#: two independent shell steps and one after both: the harness leaves them QUEUED until told
PAIR = """
id: pair
owner: team-a
steps:
  - {id: a, type: shell, shell: {command: "echo a"}}
  - {id: b, type: shell, shell: {command: "echo b"}}
  - {id: c, type: noop, depends_on: [a, b]}
"""


def _status(harness: Harness, run_id: int) -> str:
    with harness.db.read() as conn:
        return str(reads.run_detail(conn, run_id).status)


def _confirm(html: str, id: str) -> re.Match[str] | None:
    """The disclosure ``id`` holding a POST form: the confirmation before the action."""
    return re.search(
        rf'<details class="confirm" id="{id}"><summary class="button[^"]*">([^<]+)</summary>'
        r'<form method="post" action="([^"]+)" class="confirm-body">',
        html,
    )


def _new_run(response: object) -> int:
    location = response.headers["location"]  # type: ignore[attr-defined]
    return int(location.rsplit("/", 1)[1])


def test_pause_resume_and_kill_a_run(client: TestClient, harness: Harness) -> None:
    run_id = harness.start(PAIR)
    html = client.get(f"/runs/{run_id}").text
    assert f'action="/runs/{run_id}/pause"' in html and "▶ Resume" not in html
    kill = _confirm(html, "confirm-kill")
    assert kill is not None and kill.groups() == ("✗ Kill…", f"/runs/{run_id}/kill")
    stop = _confirm(html, "confirm-stop")  # Stop asks first too, without script
    assert stop is not None and stop.groups() == ("■ Stop…", f"/runs/{run_id}/stop")
    assert post_form(client, f"/runs/{run_id}/pause").status_code == 303
    assert _status(harness, run_id) == "PAUSED"
    html = client.get(f"/runs/{run_id}").text
    assert f'action="/runs/{run_id}/resume"' in html and f"/runs/{run_id}/pause" not in html
    again = post_form(client, f"/runs/{run_id}/pause")
    assert again.status_code == 409 and "only a RUNNING run can be paused" in again.text
    assert post_form(client, f"/runs/{run_id}/resume").status_code == 303
    assert _status(harness, run_id) == "RUNNING"
    assert post_form(client, f"/runs/{run_id}/kill").status_code == 303
    assert _status(harness, run_id) == "FAILED"
    with harness.db.read() as conn:
        events = reads.list_events(conn, run_id, limit=500).items
    assert any(e.action == "kill" and e.to_status == "FAILED" for e in events)
    html = client.get(f"/runs/{run_id}").text
    assert "confirm-kill" not in html and f"/runs/{run_id}/pause" not in html
    assert post_form(client, f"/runs/{run_id}/kill").status_code == 409


def test_stop_one_step(client: TestClient, harness: Harness) -> None:
    run_id = harness.start(PAIR)
    assert harness.statuses(run_id) == {"a": "QUEUED", "b": "QUEUED", "c": "PENDING"}
    html = client.get(f"/runs/{run_id}").text
    stop_a = _confirm(html, "confirm-stop-a")
    assert stop_a is not None and stop_a.group(2) == f"/runs/{run_id}/steps/a/stop"
    assert _confirm(html, "confirm-stop-c") is None  # pending: nothing to stop (Skip is there)
    response = post_form(client, f"/runs/{run_id}/steps/a/stop")
    assert response.status_code == 303 and response.headers["location"].endswith("#step-a")
    assert harness.statuses(run_id)["a"] == "STOPPED"
    assert harness.statuses(run_id)["b"] == "QUEUED"  # the other step goes on
    again = post_form(client, f"/runs/{run_id}/steps/a/stop")
    assert again.status_code == 409 and "already ended" in again.text
    step_page = client.get(f"/runs/{run_id}/steps/b").text
    assert _confirm(step_page, "confirm-stop-b") is not None
    assert _confirm(client.get(f"/runs/{run_id}/steps/a").text, "confirm-stop-a") is None
    assert post_form(client, f"/runs/{run_id}/steps/nope/stop").status_code == 404


def test_restart_from_a_chosen_step(client: TestClient, harness: Harness, tmp_path: Path) -> None:
    failed = harness.start(flaky(tmp_path))
    harness.drain(failed)
    html = client.get(f"/runs/{failed}").text
    chosen = _confirm(html, "confirm-restart-step")
    assert chosen is not None and chosen.group(2) == f"/runs/{failed}/restart"
    assert '<option value="transform" selected>transform (failed)</option>' in html
    (tmp_path / "flag").touch()
    response = post_form(client, f"/runs/{failed}/restart", {"mode": "step", "step_id": "extract"})
    assert response.status_code == 303
    new_id = _new_run(response)
    assert harness.drain(new_id).status == "SUCCEEDED"
    with harness.db.read() as conn:
        steps = {s.step_id: s.attempt_count for s in reads.run_steps(conn, new_id)}
    assert steps == {"extract": 1, "transform": 1, "load": 1}  # from extract on: all again
    missing = post_form(client, f"/runs/{failed}/restart", {"mode": "step"})
    assert missing.status_code == 422 and "needs the step" in missing.text
    unknown = post_form(client, f"/runs/{failed}/restart", {"mode": "step", "step_id": "nope"})
    assert unknown.status_code == 404


def test_retry_a_step_after_the_run_ended(
    client: TestClient, harness: Harness, tmp_path: Path
) -> None:
    """The engine retries a step within an active run only: once the run has ended, Retry is a
    new run from that step, reusing the results of the steps before it."""
    failed = harness.start(flaky(tmp_path))
    harness.drain(failed)
    html = client.get(f"/runs/{failed}").text
    retry = _confirm(html, "confirm-retry-transform")
    assert retry is not None and retry.groups() == ("↻ Retry…", f"/runs/{failed}/restart")
    assert _confirm(html, "confirm-retry-extract") is None  # it succeeded
    assert _confirm(html, "confirm-retry-load") is None  # it did not run: retry transform
    step_page = client.get(f"/runs/{failed}/steps/transform").text
    assert _confirm(step_page, "confirm-retry-transform") is not None
    extract_page = client.get(f"/runs/{failed}/steps/extract").text
    assert _confirm(extract_page, "confirm-rerun-extract") is not None  # rerun from any step
    (tmp_path / "flag").touch()
    fields = {"mode": "step", "step_id": "transform"}
    new_id = _new_run(post_form(client, f"/runs/{failed}/restart", fields))
    assert harness.drain(new_id).status == "SUCCEEDED"
    with harness.db.read() as conn:
        steps = {s.step_id: s.attempt_count for s in reads.run_steps(conn, new_id)}
        detail = reads.run_detail(conn, new_id)
    assert steps == {"extract": 0, "transform": 1, "load": 1}  # extract's result reused
    assert detail.restarted_from == failed and detail.trigger == "restart"


def test_retry_after_the_end_reruns_that_step_only_and_reuses_the_other_failures(
    client: TestClient, harness: Harness, tmp_path: Path
) -> None:
    """What docs/web.md promises: a retry in a new run is not "restart from failed" — an
    unrelated failed step keeps its failure (reused), and so does the new run."""
    flag = tmp_path / "flag"
    failed = harness.start(
        "id: two\nowner: o\nsteps:\n"
        f"  - {{id: a, type: shell, shell: {{command: 'test -f {flag}'}}}}\n"
        "  - {id: b, type: shell, shell: {command: 'exit 1'}}\n"
    )
    assert harness.drain(failed).status == "FAILED"
    flag.touch()
    fields = {"mode": "step", "step_id": "a"}
    new_id = _new_run(post_form(client, f"/runs/{failed}/restart", fields))
    assert harness.drain(new_id).status == "FAILED"
    with harness.db.read() as conn:
        steps = {s.step_id: (s.status, s.attempt_count) for s in reads.run_steps(conn, new_id)}
    assert steps == {"a": ("SUCCEEDED", 1), "b": ("FAILED", 0)}


def test_the_actions_of_an_iteration_leave_restarts_to_its_parent(
    client: TestClient, harness: Harness
) -> None:
    run_id = harness.start(
        "id: fe\nowner: o\nsteps:\n  - id: each\n    type: foreach\n    foreach:\n"
        "      items: '[1]'\n      as: n\n"
        "      steps: [{id: inner, type: shell, shell: {command: 'exit 1'}}]\n"
    )
    harness.drain(run_id)
    child = re.search(r'href="/runs/(\d+)">iteration 0', client.get(f"/runs/{run_id}").text)
    assert child is not None
    html = client.get(f"/runs/{child.group(1)}").text
    assert "confirm-restart-step" not in html and "confirm-retry-inner" not in html


@pytest.mark.parametrize("who", ["reader", "writer-b"])
def test_only_a_writer_of_the_owner_sees_and_uses_the_actions(
    authed: Authed, harness: Harness, tmp_path: Path, who: str
) -> None:
    ended = harness.start(flaky(tmp_path))
    harness.drain(ended)  # executes what is queued: the active run starts after it
    active = harness.start(PAIR)
    authed.log_in(who)
    active_html = authed.client.get(f"/runs/{active}").text
    ended_html = authed.client.get(f"/runs/{ended}").text
    step_html = authed.client.get(f"/runs/{ended}/steps/extract").text
    for html in (active_html, ended_html, step_html):
        assert 'class="confirm"' not in html and "/pause" not in html
    for path, fields in (
        (f"/runs/{active}/pause", {}),
        (f"/runs/{active}/kill", {}),
        (f"/runs/{active}/steps/a/stop", {}),
        (f"/runs/{ended}/restart", {"mode": "step", "step_id": "transform"}),
    ):
        refused = post_form(authed.client, path, fields)
        assert refused.status_code == 403 and "write scope" in refused.text, path
    assert harness.statuses(active)["a"] == "QUEUED" and _status(harness, active) == "RUNNING"
    authed.log_in("writer-a")
    assert _confirm(authed.client.get(f"/runs/{active}").text, "confirm-kill") is not None
    assert post_form(authed.client, f"/runs/{active}/steps/a/stop").status_code == 303
    with harness.db.read() as conn:
        events = reads.list_events(conn, active, limit=500).items
    assert any(e.action == "stop" and e.actor == "writer-a" for e in events)


def test_the_new_actions_need_the_csrf_value(client: TestClient, harness: Harness) -> None:
    run_id = harness.start(PAIR)
    for path in ("pause", "resume", "kill", "steps/a/stop"):
        refused = post_form(client, f"/runs/{run_id}/{path}", csrf=False)
        assert refused.status_code == 403 and "reload the page" in refused.text, path
    assert _status(harness, run_id) == "RUNNING" and harness.statuses(run_id)["a"] == "QUEUED"
