"""Issue 16, finding runs: the runs page across workflows and the workflow page's filters (by
status, trigger, dates and params text, in the URL, with counts per status), and the home
page's recent failures."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.web import runs_page
from maestro.reads import run_search
from tests.engine.harness import Harness
from tests.web.conftest import flaky

OTHER = """
id: other
owner: team-b
params: {{note: {{type: string, default: plain}}}}
steps: [{{id: a, type: noop}}]
"""


def _runs_shown(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr data-run="(\d+)"', html)]


def _grid_runs(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'class="sq st-\w+" href="/runs/(\d+)" title', html)]


@pytest.fixture
def runs(harness: Harness, tmp_path: Path) -> dict[str, int]:
    """sales: failed, failed, succeeded (after the flag); other: two, one with a note."""
    made = {}
    for name in ("f1", "f2"):
        made[name] = harness.start(flaky(tmp_path))
        harness.drain(made[name])
        harness.clock.advance(3600)
    (tmp_path / "flag").touch()
    made["ok"] = harness.start(flaky(tmp_path))
    harness.drain(made["ok"])
    made["o1"] = harness.start(OTHER.format())
    harness.drain(made["o1"])
    made["o2"] = harness.start(OTHER.format(), params={"note": "<script>alert(1)</script> eu"})
    harness.drain(made["o2"])
    return made


def test_the_runs_page_lists_every_workflow_newest_first(
    client: TestClient, runs: dict[str, int]
) -> None:
    page = client.get("/runs")
    assert page.status_code == 200
    assert _runs_shown(page.text) == [runs["o2"], runs["o1"], runs["ok"], runs["f2"], runs["f1"]]
    assert 'href="/runs">Runs</a>' in page.text  # the header links here
    assert "sales #1" in page.text and "other #2" in page.text
    assert "<script>alert(1)" not in page.text and "&lt;script&gt;alert(1)" in page.text
    counts = dict(re.findall(r'<span class="count" data-status="(\w+)">(\d*)</span>', page.text))
    assert counts["FAILED"] == "2" and counts["SUCCEEDED"] == "3" and counts["RUNNING"] == "0"


def test_filters_are_in_the_url_and_the_form_shows_them(
    client: TestClient, runs: dict[str, int]
) -> None:
    failed = client.get("/runs?status=FAILED&trigger=&since=&until=&q=").text
    assert _runs_shown(failed) == [runs["f2"], runs["f1"]]
    assert 'value="FAILED" checked' in failed
    noted = client.get("/runs?q=EU&trigger=manual").text
    assert _runs_shown(noted) == [runs["o2"]]
    assert 'name="q" value="EU"' in noted and 'value="manual" selected' in noted
    assert "any trigger or params" in noted  # the counts say what they leave out
    one = client.get("/runs?workflow=sales&status=SUCCEEDED").text
    assert _runs_shown(one) == [runs["ok"]]
    assert 'type="hidden" name="workflow" value="sales"' in one
    assert 'href="/runs?workflow=sales">Clear filters' in one


def test_dates_are_utc_days_with_both_ends_included(
    client: TestClient, harness: Harness, runs: dict[str, int]
) -> None:
    day = client.get(f"/api/v1/runs/{runs['f1']}").json()["created_at"][:10]
    same_day = client.get(f"/runs?since={day}&until={day}").text
    assert runs["f1"] in _runs_shown(same_day)
    assert _runs_shown(client.get("/runs?since=2999-01-01").text) == []
    assert "No runs match" in client.get("/runs?until=2000-01-01").text


def test_bad_filters_answer_an_html_400_naming_the_value(client: TestClient) -> None:
    for query, named in (
        ("since=yesterday", "since"),
        ("since=2026-02-31", "since"),
        ("status=BROKEN", "status"),
        ("trigger=sometimes", "trigger"),
        ("since=2026-02-01&until=2026-01-01", "swap the dates"),
    ):
        for path in ("/runs", "/workflows/sales"):
            answer = client.get(f"{path}?{query}")
            assert answer.status_code in (400, 404), (path, query)
            assert answer.headers["content-type"].startswith("text/html")
            if path == "/runs":
                assert answer.status_code == 400 and named in answer.text, query


def test_older_pages_keep_the_filters(
    client: TestClient, runs: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runs_page, "RUNS_PAGE", 1)
    first = client.get("/runs?status=FAILED").text
    assert _runs_shown(first) == [runs["f2"]]
    older = re.search(r'class="older" href="([^"]+)"', first)
    assert older is not None
    link = older.group(1).replace("&amp;", "&")
    assert link == f"/runs?status=FAILED&before={runs['f2']}"
    second = client.get(link).text
    assert _runs_shown(second) == [runs["f1"]]
    assert 'href="/runs?status=FAILED">« Newest' in second


def test_a_search_that_runs_out_of_budget_offers_to_search_older(
    client: TestClient, runs: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_search, "SCAN_BUDGET", 2)
    page = client.get("/runs?q=nothing-has-this").text
    assert "Searched the newest runs down to run" in page
    more = re.search(r'<a href="([^"]+)">Search older runs', page)
    assert more is not None
    assert f"before={runs['o1']}" in more.group(1) and "q=nothing-has-this" in more.group(1)


def test_the_workflow_page_filters_its_grid_and_counts_its_runs(
    client: TestClient, runs: dict[str, int]
) -> None:
    whole = client.get("/workflows/sales").text
    assert _grid_runs(whole) == [runs["ok"], runs["f2"], runs["f1"]]
    counts = dict(re.findall(r'<span class="count" data-status="(\w+)">(\d*)</span>', whole))
    assert counts["FAILED"] == "2" and counts["SUCCEEDED"] == "1"
    failed = client.get("/workflows/sales?status=FAILED").text
    assert _grid_runs(failed) == [runs["f2"], runs["f1"]]
    assert 'data-step="transform"' in failed  # the cells of the runs found
    assert "No runs match these filters" in client.get("/workflows/sales?q=zzz").text
    limited = client.get("/workflows/sales?status=FAILED&limit=1").text
    assert _grid_runs(limited) == [runs["f2"]]
    older = re.search(r'href="([^"]+)" class="older"', limited)
    assert older is not None
    assert older.group(1).replace("&amp;", "&") == (
        f"/workflows/sales?status=FAILED&before={runs['f2']}&limit=1"
    )


def test_the_home_page_shows_recent_failures(
    client: TestClient, harness: Harness, runs: dict[str, int]
) -> None:
    home = client.get("/").text
    section = home.split('id="failures"')[1].split("</section>")[0]
    assert re.findall(r'<li data-run="(\d+)"', section) == [str(runs["f2"]), str(runs["f1"])]
    assert "sales #2" in section
    assert 'href="/runs?status=FAILED&amp;status=TIMED_OUT">All failures' in section


def test_no_failures_no_section(client: TestClient, harness: Harness) -> None:
    run_id = harness.start(OTHER.format())
    harness.drain(run_id)
    assert 'id="failures"' not in client.get("/").text
    assert client.head("/runs").status_code == 200
