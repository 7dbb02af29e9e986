"""Backfills in the web view (``api/web/backfills.py``): the form on the workflow page, the
backfill's page (progress, runs, refreshing), its cancel button; bad input back in the form
with the text kept; read-only and other-owner tokens see no button and are refused."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from maestro import reads
from maestro.reads.backfills import BACKFILL_RUNS
from tests.engine.harness import Harness
from tests.web.conftest import Authed, post_form

DAILY = """
id: daily
owner: team-a
params:
  ds: {type: string, default: none}
  region: {type: string, default: us}
run_strategy: sequential
triggers:
  - cron: "0 3 * * *"
    params: {ds: "{{ run.logical_date | ds }}"}
steps:
  - {id: a, type: noop}
"""
HOURLY = (
    "id: hourly\nowner: team-a\ntriggers: [{cron: '0 * * * *'}]\nsteps: [{id: a, type: noop}]\n"
)
FORM = {"start": "2025-12-01T00:00", "end": "2025-12-03T23:00", "max_concurrency": "1"}


def _created(response: object) -> int:
    location: str = response.headers["location"]  # type: ignore[attr-defined]
    found = re.fullmatch(r"/workflows/daily/backfills/(\d+)", location)
    assert found is not None, location
    return int(found.group(1))


def test_a_backfill_from_the_form_and_its_page(client: TestClient, harness: Harness) -> None:
    harness.submit(DAILY)
    workflow = client.get("/workflows/daily").text
    assert '<details class="backfill-new" id="new-backfill">' in workflow
    assert 'id="backfills"' not in workflow  # no backfill yet: no list
    response = post_form(
        client, "/workflows/daily/backfills", {**FORM, "params": '{"region": "eu"}'}
    )
    assert response.status_code == 303
    backfill_id = _created(response)
    progress = client.get(f"/api/v1/workflows/daily/backfills/{backfill_id}").json()
    assert (progress["total"], progress["running"], progress["queued"]) == (3, 1, 2)
    runs = client.get("/api/v1/workflows/daily/runs").json()["items"]
    params = [client.get(f"/api/v1/runs/{r['id']}").json()["params"] for r in runs]
    assert sorted((p["ds"], p["region"]) for p in params) == [
        ("2025-12-01", "eu"),
        ("2025-12-02", "eu"),
        ("2025-12-03", "eu"),
    ]
    page = client.get(f"/workflows/daily/backfills/{backfill_id}")
    assert page.status_code == 200 and page.headers["x-active"] == "1"
    html = page.text
    assert "Backfill #" in html and 'data-status="RUNNING"' in html
    assert '<progress class="backfill" id="backfill-progress" max="3" value="0"' in html
    assert re.search(r'data-count="queued">.*?</span> 2</span>', html)
    assert len(re.findall(r'<tr data-run="\d+"', html)) == 3
    assert "2025-12-01 03:00:00 UTC" in html and "2025-12-03 23:00:00 UTC" in html
    listed = client.get("/workflows/daily").text
    assert f'href="/workflows/daily/backfills/{backfill_id}">#{backfill_id}</a>' in listed
    assert "0/3 done · 1 running · 2 queued" in listed
    # it refreshes like the other pages, and stops once every run has ended
    for run in runs:
        harness.drain(run["id"])
    fragment = client.get(f"/workflows/daily/backfills/{backfill_id}", headers={"X-Fragment": "1"})
    assert "<html" not in fragment.text and fragment.headers["x-active"] == "0"
    assert 'data-status="DONE"' in fragment.text and "confirm-cancel" not in fragment.text
    assert "<strong>3</strong> of 3 done" in fragment.text


def test_bad_input_comes_back_in_the_form_with_the_text_kept(
    client: TestClient, harness: Harness
) -> None:
    harness.submit(DAILY)
    cases = [
        ({"end": "2025-11-01T00:00"}, 422, "end", "before it starts"),
        ({"start": "yesterday"}, 422, "start", "&#39;yesterday&#39; is no date and time"),
        ({"start": ""}, 422, "start", "give a date and time"),
        ({"max_concurrency": "0"}, 422, "max_concurrency", "from 1 to 1000"),
        ({"max_concurrency": "two"}, 422, "max_concurrency", "from 1 to 1000"),
        ({"params": '{"region": "eu",}'}, 422, "params", "params are not valid JSON"),
        ({"params": "[1]"}, 422, "params", "JSON object"),
        ({"params": '{"nope": 1}'}, 422, "params", "nope"),
        ({"start": "2025-12-01T04:00", "end": "2025-12-02T02:00"}, 422, None, "no tick"),
    ]
    for change, status, field, message in cases:
        typed = {**FORM, "params": '{"region": "eu"}', **change}
        response = post_form(client, "/workflows/daily/backfills", typed)
        assert response.status_code == status, (change, response.status_code)
        html = response.text
        assert '<details class="backfill-new" id="new-backfill" open>' in html, change
        error = re.search(r'<p class="field-error" id="backfill-error" role="alert">([^<]*)', html)
        assert error is not None and message in error.group(1), (change, error)
        for name, value in typed.items():  # every field as typed
            if name == "params":
                shown = value.replace('"', "&#34;")
                assert f">{shown}</textarea>" in html, (change, name)
            else:
                assert f'name="{name}" id="backfill-' in html
                assert f'value="{value}"' in html, (change, name)
        if field is not None:
            marked = re.search(r'name="(\w+)"[^>]*aria-invalid="true"', html)
            assert marked is not None and marked.group(1) == field, change
        assert 'data-refresh="' not in html  # nothing to poll at a POST's address
    assert client.get("/api/v1/workflows/daily/runs").json()["items"] == []


def test_no_form_without_a_cron_trigger_and_pages_of_runs(
    client: TestClient, harness: Harness
) -> None:
    harness.submit("id: manual\nowner: o\nsteps: [{id: a, type: noop}]\n")
    assert "new-backfill" not in client.get("/workflows/manual").text
    refused = post_form(client, "/workflows/manual/backfills", FORM)
    assert refused.status_code == 409 and "no cron trigger" in refused.text
    harness.submit(HOURLY)
    hours = {"start": "2025-12-01T00:00", "end": f"2025-12-05T{BACKFILL_RUNS - 96:02d}:00"}
    response = post_form(client, "/workflows/hourly/backfills", hours)
    backfill_id = int(response.headers["location"].rsplit("/", 1)[1])
    first = client.get(f"/workflows/hourly/backfills/{backfill_id}").text
    runs = re.findall(r'<tr data-run="(\d+)"', first)
    assert len(runs) == BACKFILL_RUNS and "« First" not in first
    more = re.search(r'href="(/workflows/hourly/backfills/\d+\?after=(\d+))">Next', first)
    assert more is not None and more.group(2) == runs[-1]
    second = client.get(more.group(1)).text
    assert len(re.findall(r'<tr data-run="(\d+)"', second)) == 1 and "« First" in second
    head = client.head(f"/workflows/hourly/backfills/{backfill_id}")
    assert head.status_code == 200 and head.content == b""
    assert client.get(f"/workflows/daily/backfills/{backfill_id}").status_code == 404
    assert client.get("/workflows/hourly/backfills/999").status_code == 404
    assert client.get("/workflows/hourly/backfills/abc").status_code == 404


def test_cancel_a_backfill(client: TestClient, harness: Harness) -> None:
    harness.submit(DAILY)
    backfill_id = _created(post_form(client, "/workflows/daily/backfills", FORM))
    page = client.get(f"/workflows/daily/backfills/{backfill_id}").text
    cancel = re.search(
        r'<details class="confirm" id="confirm-cancel"><summary class="button danger">'
        r'■ Cancel…</summary><form method="post" action="([^"]+)"',
        page,
    )
    assert cancel is not None
    assert cancel.group(1) == f"/workflows/daily/backfills/{backfill_id}/cancel"
    assert "Its 2 queued run(s) are stopped; the 1 running finish." in page
    elsewhere = post_form(client, f"/workflows/hourly/backfills/{backfill_id}/cancel")
    assert elsewhere.status_code == 404
    harness.submit(HOURLY)
    other = post_form(client, f"/workflows/hourly/backfills/{backfill_id}/cancel")
    assert other.status_code == 404 and "no backfill" in other.text
    response = post_form(client, cancel.group(1))
    assert response.status_code == 303
    assert response.headers["location"] == f"/workflows/daily/backfills/{backfill_id}"
    progress = client.get(f"/api/v1/workflows/daily/backfills/{backfill_id}").json()
    assert (progress["status"], progress["stopped"], progress["running"]) == ("CANCELLED", 2, 1)
    after = client.get(f"/workflows/daily/backfills/{backfill_id}").text
    assert 'data-status="CANCELLED"' in after and "confirm-cancel" not in after
    again = post_form(client, cancel.group(1))
    assert again.status_code == 409 and "CANCELLED" in again.text
    with harness.db.read() as conn:
        events = reads.list_events(conn, progress_run(client), limit=50).items
    assert any(e.action == "cancel" and e.to_status == "STOPPED" for e in events)


def progress_run(client: TestClient) -> int:
    """A stopped run of the cancelled backfill."""
    runs = client.get("/api/v1/workflows/daily/runs").json()["items"]
    stopped: int = next(r["id"] for r in runs if r["status"] == "STOPPED")
    return stopped


def test_only_a_writer_of_the_owner_starts_or_cancels_a_backfill(
    authed: Authed, harness: Harness
) -> None:
    harness.submit(DAILY)
    authed.log_in("writer-a")
    backfill_id = _created(post_form(authed.client, "/workflows/daily/backfills", FORM))
    page = f"/workflows/daily/backfills/{backfill_id}"
    assert "confirm-cancel" in authed.client.get(page).text
    for who in ("reader", "writer-b"):
        authed.log_in(who)
        assert "new-backfill" not in authed.client.get("/workflows/daily").text, who
        assert "confirm-cancel" not in authed.client.get(page).text, who
        refused = post_form(authed.client, "/workflows/daily/backfills", FORM)
        assert refused.status_code == 403 and "write scope" in refused.text, who
        assert post_form(authed.client, f"{page}/cancel").status_code == 403, who
    authed.log_in("writer-a")
    for path, fields in (("/workflows/daily/backfills", FORM), (f"{page}/cancel", {})):
        missing = post_form(authed.client, path, fields, csrf=False)
        assert missing.status_code == 403 and "reload the page" in missing.text
    with harness.db.read() as conn:
        created = reads.run_history(conn, "daily", limit=50).items
    assert len(created) == 3 and {r.status for r in created} != {"STOPPED"}
