"""Issue 16, how pages answer: HTML errors for bad addresses (the API keeps problem+json),
paging that keeps ``?limit``, a refused "Start with params" that keeps the text, HEAD on
every page. Each test failed before its fix."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.engine.harness import Harness
from tests.web.conftest import post_form

NOOP = "id: w\nowner: o\nparams: {who: {type: string, default: x}}\nsteps: [{id: a, type: noop}]\n"


def test_bad_page_addresses_answer_html_errors_and_the_api_keeps_problem_json(
    client: TestClient, harness: Harness
) -> None:
    harness.submit(NOOP)
    for path, status in (
        ("/runs/abc", 404),
        ("/runs/1/steps/not-a-step", 404),
        ("/nope", 404),
        ("/workflows/w?before=abc", 400),
        ("/workflows/w?limit=0", 400),
        ("/workflows/w?limit=500", 400),
    ):
        response = client.get(path)
        assert response.status_code == status, path
        assert response.headers["content-type"].startswith("text/html"), path
        assert "<!doctype html>" in response.text and 'href="/"' in response.text, path
    assert "limit" in client.get("/workflows/w?limit=0").text  # says which value is bad
    for path in ("/api/v1/runs/abc", "/api/v1/workflows/w/runs?limit=0", "/api/v1/nope"):
        response = client.get(path)
        assert response.headers["content-type"] == "application/problem+json", path
        assert response.json()["status"] in (404, 422), path


def test_paging_keeps_the_chosen_number_of_runs_per_page(
    client: TestClient, harness: Harness
) -> None:
    ids = []
    for _ in range(5):
        ids.append(harness.start(NOOP))
        harness.drain(ids[-1])
    first = client.get("/workflows/w?limit=2").text
    older = re.search(r'href="(/workflows/w\?before=\d+[^"]*)" class="older"', first)
    assert older is not None
    assert older.group(1) == f"/workflows/w?before={ids[3]}&amp;limit=2"
    second = client.get(f"/workflows/w?before={ids[3]}&limit=2").text
    assert len(re.findall(r'data-run="(\d+)"', second)) == 2
    assert f'href="/workflows/w?after={ids[2]}&amp;limit=2"' in second
    assert 'href="/workflows/w?limit=2">« Newest' in second
    default = client.get("/workflows/w").text
    assert "limit=" not in default  # the default page size needs no parameter


def test_bad_params_are_shown_next_to_the_text_as_typed(
    client: TestClient, harness: Harness
) -> None:
    harness.submit(NOOP)
    typed = '{"who": "Ada",}'
    response = post_form(client, "/workflows/w/start", {"params": typed})
    assert response.status_code == 422
    html = response.text
    assert 'class="field-error" id="params-error" role="alert">params are not valid JSON' in html
    assert '<details class="params" id="start-params" open>' in html
    textarea = re.search(r"<textarea[^>]*>(.*?)</textarea>", html, re.S)
    assert textarea is not None and textarea.group(1) == "{&#34;who&#34;: &#34;Ada&#34;,}"
    assert 'aria-invalid="true"' in html
    assert "data-refresh=" not in html  # POST …/start is not a page to poll
    unknown = post_form(client, "/workflows/w/start", {"params": '{"nope": 1}'})
    assert unknown.status_code == 422 and "nope" in unknown.text
    assert "{&#34;nope&#34;: 1}</textarea>" in unknown.text


def test_every_page_answers_head_the_api_link_of_the_header_too(
    client: TestClient, harness: Harness
) -> None:
    run_id = harness.start(NOOP)
    harness.drain(run_id)
    assert 'href="/docs">API</a>' in client.get("/").text
    for path in (
        "/docs",  # the header's "API" link (Swagger UI)
        "/",
        "/workflows/w",
        f"/runs/{run_id}",
        f"/runs/{run_id}/steps/a",
        "/login",
        "/static/maestro.js",
    ):
        head, got = (
            client.head(path, follow_redirects=False),
            client.get(path, follow_redirects=False),
        )
        assert head.status_code == got.status_code, path
        assert got.status_code in (200, 303), path
        assert head.headers.get("content-type") == got.headers.get("content-type"), path
        assert head.content == b"", path


def test_the_change_feed_moves_when_a_run_starts_or_changes(
    client: TestClient, harness: Harness
) -> None:
    harness.submit(NOOP)
    before = client.get("/changes")
    assert before.status_code == 200 and before.headers["cache-control"] == "no-store"
    run_id = harness.start(NOOP)
    started = client.get("/changes").text
    assert started != before.text
    harness.drain(run_id)
    assert client.get("/changes").text != started
    assert client.get("/changes").text == client.get("/changes").text  # still when idle


def test_idiomorph_is_served_from_here_with_its_license_header(client: TestClient) -> None:
    html = client.get("/").text
    scripts = re.findall(r'<script src="([^"]+)"', html)
    paths = [s.split("?")[0] for s in scripts]
    assert paths[:2] == ["/static/idiomorph.js", "/static/maestro.js"]
    assert all(p.startswith("/static/") for p in paths)  # times.js, dag.js: from here too
    body = client.get(scripts[0]).text
    assert body.startswith("/*!\n * idiomorph 0.8.0")
    assert "Zero-Clause BSD" in body[:1500] and "Permission to use, copy, modify" in body[:1500]
    assert "var Idiomorph = (function ()" in body
