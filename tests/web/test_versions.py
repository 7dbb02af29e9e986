"""A version's definition as YAML and the diff between two versions (``api/web/versions.py``):
what they show, escaping, the links from the workflow page, and their errors."""

from __future__ import annotations

import html
import re
from dataclasses import replace

import yaml
from fastapi.testclient import TestClient

from api.web import versions
from maestro import reads
from tests.engine.harness import Harness
from tests.web.conftest import Authed

V1 = """
id: w
owner: o
description: first
steps:
  - {id: extract, type: noop}
  - {id: load, type: noop, depends_on: [extract]}
"""
V2 = """
id: w
owner: o
description: "<script>alert(1)</script>"
steps:
  - {id: extract, type: noop}
  - {id: transform, type: noop, depends_on: [extract]}
  - {id: load, type: noop, depends_on: [transform]}
"""


def _two_versions(harness: Harness) -> None:
    harness.submit(V1)
    harness.submit(V2)


def _text(page: str, element_id: str) -> str:
    """The text of the element with ``element_id`` (tags dropped, entities decoded)."""
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</pre>', page, re.S)
    assert found, element_id
    return html.unescape(re.sub(r"<[^>]+>", "", found.group(1)))


def test_a_version_page_shows_its_definition_as_yaml(client: TestClient, harness: Harness) -> None:
    _two_versions(harness)
    response = client.get("/workflows/w/versions/1")
    assert response.status_code == 200
    shown = yaml.safe_load(_text(response.text, "definition-text"))
    # the definition without its defaults: what was written, normalized
    assert shown["description"] == "first"
    assert [s["id"] for s in shown["steps"]] == ["extract", "load"]
    assert shown["steps"][1]["depends_on"] == ["extract"]
    assert "retry" not in shown["steps"][0]  # a default, left out
    assert 'href="/workflows/w/versions/1/diff/2"' in response.text  # the next version's changes
    assert "/versions/0/" not in response.text  # no version before the first
    assert "<time datetime=" in response.text  # when it was submitted


def test_a_script_in_a_definition_renders_as_text(client: TestClient, harness: Harness) -> None:
    _two_versions(harness)
    for path in ("/workflows/w/versions/2", "/workflows/w/versions/1/diff/2"):
        page = client.get(path).text
        assert "<script>alert" not in page, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, path


def test_the_diff_shows_the_removed_and_added_lines_with_both_line_numbers(
    client: TestClient, harness: Harness
) -> None:
    _two_versions(harness)
    response = client.get("/workflows/w/versions/1/diff/2")
    assert response.status_code == 200
    rows = re.findall(
        r'<tr class="(added|removed|same)"><td class="num">(\d*)</td><td class="num">(\d*)</td>'
        r".*?<code>(.*?)</code>",
        response.text,
    )
    removed = [(old, text) for kind, old, new, text in rows if kind == "removed"]
    added = [(new, text) for kind, old, new, text in rows if kind == "added"]
    assert ("2", "description: first") in removed
    assert any("- id: transform" in text for _, text in added)
    assert all(old == "" for kind, old, _, _ in rows if kind == "added")
    assert all(new == "" for kind, _, new, _ in rows if kind == "removed")
    # each change says what it is in words, not by color alone
    assert response.text.count('<span class="visually-hidden">added</span>') == len(added)
    assert response.text.count('<span class="visually-hidden">removed</span>') == len(removed)
    assert f"+{len(added)}" in response.text and f"−{len(removed)}" in response.text
    # and the hunks say where they are
    assert re.search(r"Lines \d+–\d+ of v1, \d+–\d+ of v2", response.text)


def test_the_diff_of_equal_definitions_says_so(client: TestClient, harness: Harness) -> None:
    harness.submit(V1)
    page = client.get("/workflows/w/versions/1/diff/1").text
    assert 'id="no-changes"' in page and 'class="diff"' not in page


def test_the_compare_form_goes_to_the_diff_older_version_first(
    client: TestClient, harness: Harness
) -> None:
    _two_versions(harness)
    response = client.get("/workflows/w/versions/1/diff?against=2", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/workflows/w/versions/1/diff/2"


def test_the_workflow_page_links_each_version_and_its_changes(
    client: TestClient, harness: Harness
) -> None:
    _two_versions(harness)
    page = client.get("/workflows/w").text
    assert 'href="/workflows/w/versions/1"' in page and 'href="/workflows/w/versions/2"' in page
    assert 'href="/workflows/w/versions/1/diff/2"' in page


def test_unknown_versions_answer_404_and_bad_values_400(
    client: TestClient, harness: Harness
) -> None:
    harness.submit(V1)
    for path, status in (
        ("/workflows/w/versions/9", 404),
        ("/workflows/nope/versions/1", 404),
        ("/workflows/w/versions/1/diff/9", 404),
        ("/workflows/w/versions/abc", 404),
        ("/workflows/w/versions/0", 404),
        ("/workflows/w/versions/1/diff/1?context=-1", 400),
        ("/workflows/w/versions/1/diff/1?context=abc", 400),
        ("/workflows/w/versions/1/diff?against=abc", 400),
        ("/workflows/w/versions/1/diff", 400),
    ):
        response = client.get(path)
        assert response.status_code == status, path
        assert response.headers["content-type"].startswith("text/html"), path
        assert "<!doctype html>" in response.text, path
    assert "version 9" in client.get("/workflows/w/versions/9").text  # says what is missing
    assert "context" in client.get("/workflows/w/versions/1/diff/1?context=abc").text


def test_diff_hunks_keep_their_context_and_line_numbers() -> None:
    old = "".join(f"line {i}\n" for i in range(1, 21))
    new = old.replace("line 5\n", "line five\n").replace("line 18\n", "")
    hunks = versions.diff(old, new, context=1)
    assert [(h.old_start, h.old_end, h.new_start, h.new_end) for h in hunks] == [
        (4, 6, 4, 6),
        (17, 19, 17, 18),
    ]
    first = hunks[0].lines
    assert [(x.kind, x.old, x.new, x.text) for x in first] == [
        ("same", 4, 4, "line 4"),
        ("removed", 5, None, "line 5"),
        ("added", None, 5, "line five"),
        ("same", 6, 6, "line 6"),
    ]
    assert versions.diff(old, old) == []


def test_a_definition_that_no_longer_parses_is_shown_whole_without_nulls() -> None:
    stored = {"id": "w", "owner": "o", "steps": "not a list", "description": None}
    shown = yaml.safe_load(versions.definition_yaml(stored))
    assert shown == {"id": "w", "owner": "o", "steps": "not a list"}


def test_version_pages_need_a_login_when_authentication_is_on(
    authed: Authed, harness: Harness
) -> None:
    harness.submit(V1)
    for path in ("/workflows/w/versions/1", "/workflows/w/versions/1/diff/1"):
        response = authed.client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
    response = authed.client.get("/workflows/w/versions/1/diff?against=1", follow_redirects=False)
    assert response.headers["location"].startswith("/login")
    authed.log_in("reader")  # any scope reads
    assert authed.client.get("/workflows/w/versions/1").status_code == 200


def test_the_yaml_of_a_version_is_kept_by_content_hash_and_the_cache_stays_bounded(
    harness: Harness,
) -> None:
    harness.submit(V1)
    with harness.db.read() as conn:
        detail = reads.version_detail(conn, "w", 1)
    text = versions.version_yaml(detail)
    assert text == versions.definition_yaml(detail.definition)
    assert versions.version_yaml(detail) is text  # not dumped again
    for i in range(versions.CACHED_TEXTS + 5):
        versions.version_yaml(replace(detail, content_hash=f"other-{i}"))
    assert len(versions._TEXTS) == versions.CACHED_TEXTS
