"""The pages through HTTP on the real app: what each shows, the history grid's links and
pages, the auto-refresh fragments, escaping, and the buttons (CSRF-checked forms)."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from maestro import reads
from tests.engine.harness import Harness
from tests.web.conftest import csrf_of, flaky, post_form


def _failed_run(harness: Harness, tmp_path: Path, **kwargs: str) -> int:
    run_id = harness.start(flaky(tmp_path, **kwargs))
    harness.drain(run_id)
    return run_id


def test_the_workflows_page_lists_owner_tags_trigger_and_last_runs(
    client: TestClient, harness: Harness, tmp_path: Path
) -> None:
    run_id = _failed_run(harness, tmp_path)
    html = client.get("/").text
    assert 'href="/workflows/sales"' in html and "team-a" in html and "nightly" in html
    # the cron trigger's next tick (fake clock), in UTC and as a machine-readable time
    assert 'next <time datetime="2026-01-01T03:00:00Z">2026-01-01 03:00:00 UTC</time>' in html
    square = re.search(rf'<a class="sq st-FAILED" href="/runs/{run_id}"[^>]*>', html)
    assert square is not None and 'aria-label="run 1: failed"' in square.group(0)
    assert "last: #1 failed" in html


def test_the_workflows_page_filters_and_says_when_empty(
    client: TestClient, harness: Harness
) -> None:
    assert "No workflows yet" in client.get("/").text
    harness.submit("id: w\nowner: o\nsteps: [{id: a, type: noop}]\n")
    assert 'href="/workflows/w"' in client.get("/?q=w").text
    assert "No workflows match" in client.get("/?q=zzz").text
    assert "No workflows match" in client.get("/?owner=nobody").text


def test_the_grid_shows_the_failure_and_links_each_cell_to_its_attempt(
    client: TestClient, harness: Harness, tmp_path: Path
) -> None:
    failed = _failed_run(harness, tmp_path)
    (tmp_path / "flag").touch()
    ok = harness.start(flaky(tmp_path))
    harness.drain(ok)
    response = client.get("/workflows/sales")
    assert response.status_code == 200
    html = response.text
    rows = re.findall(r'<tr data-step="(\w+)">', html)
    assert rows == ["extract", "transform", "load"]
    columns = re.findall(r'data-run="(\d+)"', html)
    assert columns == [str(ok), str(failed)]  # newest left
    cell = re.search(
        rf'<td class="cell st-FAILED" data-status="FAILED"><a href="/runs/{failed}/steps/'
        r'transform/attempts/1" title="transform · run #1: failed"',
        html,
    )
    assert cell is not None
    assert f'href="/runs/{failed}/steps/load"' in html  # never ran: the step, no attempt
    assert '<svg class="durations"' in html and "run #2: succeeded" in html
    assert "v1" in html and "active" in html and "cron <code>0 3 * * *</code>" in html
    assert "Start a run" in html and "Pause triggers" in html


def test_the_grid_is_paginated_by_run_id(client: TestClient, harness: Harness) -> None:
    ids = []
    for _ in range(5):
        ids.append(harness.start("id: w\nowner: o\nsteps: [{id: a, type: noop}]\n"))
        harness.drain(ids[-1])
    first = client.get("/workflows/w?limit=2").text
    assert re.findall(r'data-run="(\d+)"', first) == [str(ids[4]), str(ids[3])]
    assert f'href="/workflows/w?before={ids[3]}&amp;limit=2"' in first and "Newer" not in first
    second = client.get(f"/workflows/w?limit=2&before={ids[3]}").text
    assert re.findall(r'data-run="(\d+)"', second) == [str(ids[2]), str(ids[1])]
    assert f"after={ids[2]}" in second and "Newest" in second
    assert client.get("/workflows/w?before=0").status_code == 400  # an HTML error page


def test_the_run_page_draws_the_dag_the_timeline_and_the_failure(
    client: TestClient, harness: Harness, tmp_path: Path
) -> None:
    run_id = _failed_run(harness, tmp_path)
    response = client.get(f"/runs/{run_id}")
    assert response.status_code == 200 and response.headers["x-active"] == "0"
    html = response.text
    assert '<svg class="dag"' in html
    assert 'data-step="transform" data-status="FAILED"' in html
    assert 'data-step="load" data-status="UPSTREAM_FAILED"' in html
    assert '<svg class="gantt"' in html
    assert "Restart from failed" in html and "Restart from the beginning" in html
    assert "■ Stop" not in html  # the run has ended
    # what failed and why, at the top, with a link to the log
    assert f'href="/runs/{run_id}/steps/transform/attempts/1#log">log</a>' in html
    assert "command exited with code 3" in html


def test_foreach_iterations_expand_on_the_run_page(client: TestClient, harness: Harness) -> None:
    run_id = harness.start(
        "id: fe\nowner: o\nsteps:\n  - id: each\n    type: foreach\n    foreach:\n"
        "      items: '[1, 2]'\n      as: n\n      steps: [{id: inner, type: noop}]\n"
    )
    harness.drain(run_id)
    html = client.get(f"/runs/{run_id}").text
    assert '<details id="children-each" class="children">' in html
    assert "iteration 0" in html and "iteration 1" in html
    child = re.search(r'href="/runs/(\d+)">iteration 1', html)
    assert child is not None
    child_html = client.get(f"/runs/{child.group(1)}").text
    assert "Iteration 1 of each" in child_html
    assert '<small class="iteration-values">(n=2)</small>' in child_html  # its values
    assert 'data-step="inner" data-status="SUCCEEDED"' in child_html  # the body's DAG
    assert "Restart from failed" not in child_html  # iterations restart with their parent


def test_the_step_page_shows_attempts_and_the_log(
    client: TestClient, harness: Harness, tmp_path: Path
) -> None:
    run_id = _failed_run(harness, tmp_path)
    html = client.get(f"/runs/{run_id}/steps/transform").text
    assert "no input partition" in html
    assert f'data-log-url="/runs/{run_id}/steps/transform/attempts/1/log"' in html
    assert 'data-follow="false"' in html  # the attempt has ended
    attempt = client.get(f"/runs/{run_id}/steps/transform/attempts/1").text
    assert '<span class="e">no input partition</span></span></li>\n</ol>' in attempt  # stderr
    assert client.get(f"/runs/{run_id}/steps/transform/attempts/2").status_code == 404
    assert client.get(f"/runs/{run_id}/steps/nope").status_code == 404


def test_the_log_endpoint_follows_by_offset(
    client: TestClient, harness: Harness, tmp_path: Path
) -> None:
    run_id = _failed_run(harness, tmp_path)
    url = f"/runs/{run_id}/steps/transform/attempts/1/log"
    whole = client.get(url)
    assert whole.status_code == 200 and "no input partition" in whole.text
    size = int(whole.headers["x-log-size"])
    assert int(whole.headers["x-next-offset"]) == size
    assert whole.headers["x-attempt-status"] == "FAILED"
    tail = client.get(url, params={"offset": size - 5})
    assert tail.content == whole.content[-5:]
    assert client.get(url, params={"offset": size}).content == b""
    assert client.get(f"/runs/{run_id}/steps/load/attempts/1/log").status_code == 404


def test_the_refresh_poll_gets_the_body_alone_and_whether_to_go_on(
    client: TestClient, harness: Harness
) -> None:
    run_id = harness.start("id: w\nowner: o\nsteps: [{id: a, type: noop}]\n")
    page = client.get(f"/runs/{run_id}")
    assert page.headers["x-active"] == "1" and f'data-refresh="/runs/{run_id}"' in page.text
    fragment = client.get(f"/runs/{run_id}", headers={"X-Fragment": "1"})
    assert "<html" not in fragment.text and "Run #1" in fragment.text
    assert fragment.headers["x-active"] == "1"
    harness.drain(run_id)
    assert client.get(f"/runs/{run_id}", headers={"X-Fragment": "1"}).headers["x-active"] == "0"
    assert client.get("/workflows/w", headers={"X-Fragment": "1"}).headers["x-active"] == "0"


def test_names_and_tags_render_inert(client: TestClient, harness: Harness, tmp_path: Path) -> None:
    evil = "\"<script>alert('x')</script>\""
    _failed_run(harness, tmp_path, name=evil)
    for path in ("/", "/workflows/sales"):
        html = client.get(path).text
        assert "<script>alert" not in html
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    headers = client.get("/").headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"


def test_unknown_things_get_an_html_404(client: TestClient) -> None:
    for path in ("/workflows/nope", "/runs/999", "/runs/999/steps/a"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("text/html")
        assert "does not exist" in response.text


def test_static_files_are_served_with_a_versioned_url(client: TestClient) -> None:
    html = client.get("/").text
    css = re.search(r'href="(/static/maestro\.css\?v=\w+)"', html)
    assert css is not None
    response = client.get(css.group(1))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/css")
    assert ".st-FAILED{" in client.get("/static/status.css").text
    assert (
        client.get("/static/maestro.js")
        .headers["content-type"]
        .startswith(("application/javascript", "text/javascript"))
    )
    assert client.get("/static/nope.css").status_code == 404
    assert client.get("/static/..%2Fapp.py").status_code in (404, 422)


def test_the_api_is_unchanged_by_the_web_routes(client: TestClient) -> None:
    assert client.get("/api/v1/workflows").json() == {"items": [], "next_cursor": None}
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert not any(p == "/" or p.startswith(("/runs", "/static", "/login")) for p in paths)


# -- the buttons -----------------------------------------------------------------------------


def test_start_a_run_from_the_workflow_page(client: TestClient, harness: Harness) -> None:
    harness.submit(
        "id: w\nowner: o\nparams: {who: {type: string, default: x}}\nsteps: [{id: a, type: noop}]\n"
    )
    response = post_form(client, "/workflows/w/start", {"params": '{"who": "Ada"}'})
    assert response.status_code == 303
    run_id = int(response.headers["location"].rsplit("/", 1)[1])
    with harness.db.read() as conn:
        run = reads.run_detail(conn, run_id)
    assert run.params == {"who": "Ada"} and run.trigger == "manual"
    bad = post_form(client, "/workflows/w/start", {"params": "[1]"})
    assert bad.status_code == 422 and "JSON object" in bad.text
    unknown = post_form(client, "/workflows/w/start", {"params": '{"nope": 1}'})
    assert unknown.status_code == 422


def test_starting_from_the_web_form_goes_through_the_run_strategy(
    client: TestClient, harness: Harness
) -> None:
    """The web page's "Start" once skipped the run strategy: a second run of a sequential
    workflow ran at once beside the first, where REST queued it."""
    harness.submit(
        "id: seq\nowner: o\nrun_strategy: sequential\n"
        "steps: [{id: a, type: sleep, sleep: {duration: 1h}}]\n"
    )
    first = post_form(client, "/workflows/seq/start")
    second = post_form(client, "/workflows/seq/start")
    ids = [int(r.headers["location"].rsplit("/", 1)[1]) for r in (first, second)]
    with harness.db.read() as conn:
        statuses = [reads.run_detail(conn, run_id).status for run_id in ids]
    assert [str(s) for s in statuses] == ["RUNNING", "QUEUED"]
    rest = client.post("/api/v1/workflows/seq/runs", json={})
    assert rest.json()["status"] == "QUEUED"  # the same rule through REST


def test_restart_from_failed_makes_a_new_run_that_succeeds(
    client: TestClient, harness: Harness, tmp_path: Path
) -> None:
    failed = _failed_run(harness, tmp_path)
    (tmp_path / "flag").touch()
    response = post_form(client, f"/runs/{failed}/restart", {"mode": "failed"})
    assert response.status_code == 303
    new_id = int(response.headers["location"].rsplit("/", 1)[1])
    assert harness.drain(new_id).status == "SUCCEEDED"
    html = client.get(f"/runs/{new_id}").text
    assert f'href="/runs/{failed}">run #1</a>' in html  # restarted from, by its number
    again = post_form(client, f"/runs/{new_id}/restart", {"mode": "failed"})
    assert again.status_code == 409 and "no failed step" in again.text
    assert post_form(client, f"/runs/{new_id}/restart", {"mode": "sideways"}).status_code == 422


def test_stop_retry_and_skip(client: TestClient, harness: Harness) -> None:
    run_id = harness.start(
        "id: w\nowner: o\nsteps:\n"
        "  - {id: a, type: shell, shell: {command: 'exit 1'}}\n"
        "  - {id: d, type: shell, shell: {command: 'exit 1'}}\n"
        "  - {id: r, type: shell, shell: {command: 'exit 1'}, retries: {limit: 1, delay: 1h}}\n"
        "  - {id: b, type: noop, depends_on: [a]}\n"
    )
    harness.step_once()  # a and d fail; r waits an hour to retry: the run goes on
    assert harness.statuses(run_id) == {
        "a": "FAILED",
        "d": "FAILED",
        "r": "RETRYING",
        "b": "UPSTREAM_FAILED",
    }
    html = client.get(f"/runs/{run_id}").text
    assert "■ Stop" in html and html.count("↻ Retry") == 2 and html.count("↷ Skip") == 2
    assert post_form(client, f"/runs/{run_id}/steps/a/skip").status_code == 303
    assert harness.statuses(run_id)["a"] == "SKIPPED"
    assert post_form(client, f"/runs/{run_id}/steps/d/retry").status_code == 303
    assert harness.statuses(run_id)["d"] == "QUEUED"
    refused = post_form(client, f"/runs/{run_id}/steps/r/skip")
    assert refused.status_code == 409 and "RETRYING" in refused.text
    assert post_form(client, f"/runs/{run_id}/stop").status_code == 303
    with harness.db.read() as conn:
        assert reads.run_detail(conn, run_id).status == "STOPPED"
    assert post_form(client, f"/runs/{run_id}/stop").status_code == 409


def test_pause_and_resume_the_triggers(
    client: TestClient, harness: Harness, tmp_path: Path
) -> None:
    _failed_run(harness, tmp_path)
    assert post_form(client, "/workflows/sales/pause").status_code == 303
    html = client.get("/workflows/sales").text
    assert "‖ paused" in html and "Resume triggers" in html
    assert "‖ paused" in client.get("/").text
    assert post_form(client, "/workflows/sales/resume").status_code == 303
    assert "Pause triggers" in client.get("/workflows/sales").text


def test_forms_without_the_csrf_value_or_from_another_site_are_refused(
    client: TestClient, harness: Harness, tmp_path: Path
) -> None:
    failed = _failed_run(harness, tmp_path)
    missing = post_form(client, f"/runs/{failed}/restart", csrf=False)
    assert missing.status_code == 403 and "reload the page" in missing.text
    wrong = post_form(client, f"/runs/{failed}/restart", {"csrf": "x" * 40})
    assert wrong.status_code == 403
    token = csrf_of(client)
    foreign = client.post(
        f"/runs/{failed}/restart",
        data={"csrf": token},
        headers={"Origin": "http://evil.example"},
        follow_redirects=False,
    )
    assert foreign.status_code == 403
    same = client.post(
        f"/runs/{failed}/restart",
        data={"csrf": token},
        headers={"Origin": "http://test"},
        follow_redirects=False,
    )
    assert same.status_code == 303
    cookie = next(c for c in client.cookies.jar if c.name == "maestro_csrf")
    assert cookie.has_nonstandard_attr("HttpOnly")


def test_a_malformed_form_is_a_400(client: TestClient) -> None:
    response = client.post(
        "/workflows/w/start",
        content=b"\xff\xfe",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400


def test_every_page_answers_head_like_get_without_a_body(
    client: TestClient, harness: Harness, tmp_path: Path
) -> None:
    run_id = _failed_run(harness, tmp_path)
    for path in (
        "/",
        "/workflows/sales",
        f"/runs/{run_id}",
        f"/runs/{run_id}/steps/transform/attempts/1",
        "/static/maestro.css",
    ):
        got = client.get(path)
        head = client.head(path)
        assert (head.status_code, got.status_code) == (200, 200), path
        assert head.headers["content-type"] == got.headers["content-type"], path
        assert head.content == b"", path
    assert client.head("/runs/999999").status_code == 404
