"""``/docs`` is Swagger UI served by this server: the page and everything it loads come from
here (no CDN, no validator badge), and it points at this server's OpenAPI document."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from tests.api.conftest import API

#: every absolute URL in a page (an SVG namespace names no server to load from)
ABSOLUTE = re.compile(r"(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}[^\s\"'<>)]*")
NAMESPACES = {"//www.w3.org/2000/svg", "//www.w3.org/1999/xlink"}


def _external(html: str) -> list[str]:
    found = [m.group(0) for m in ABSOLUTE.finditer(html)]
    return [u for u in found if u.split(":", 1)[-1] not in NAMESPACES]


def test_the_docs_page_loads_nothing_from_other_hosts(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    assert "http" not in page.text, page.text  # no host named at all, not even this one
    assert f"url: '{API}/openapi.json'" in page.text
    assert '"validatorUrl": null' in page.text
    loaded = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(loaded) == 3, loaded  # the script, the style, the icon
    for url in loaded:
        assert url.startswith("/docs/static/"), url
        assert client.get(url).status_code == 200, url
    assert client.get(f"{API}/openapi.json").json()["openapi"].startswith("3.1")


def test_no_page_names_another_host(
    client: TestClient, submit: Callable[..., dict[str, Any]]
) -> None:
    submit()
    for path in ("/docs", "/", "/workflows/hello"):
        page = client.get(path)
        assert page.status_code == 200 and _external(page.text) == [], path
