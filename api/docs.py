"""``/docs``: Swagger UI over the OpenAPI document, served from this server.

FastAPI's default page loads Swagger UI's script and style from a CDN without Subresource
Integrity: whoever controls that CDN (or a path to it) runs script in the page that holds the
visitor's token. The files come from the ``swagger-ui-bundle-v2`` package instead, served
under ``/docs/static/``, and its validator badge (which sends the document's address to
validator.swagger.io) is off: the page names no other host and works offline.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

DOCS = "/docs"
STATIC = f"{DOCS}/static"


def install_docs(app: FastAPI, openapi_url: str) -> None:
    """Serve Swagger UI at ``/docs`` (its files at ``/docs/static``) for ``openapi_url``."""
    app.mount(STATIC, StaticFiles(directory=swagger_ui_path), name="swagger-ui")

    # HEAD as well as GET, like every page (link checkers and uptime monitors send HEAD)
    @app.api_route(DOCS, methods=["GET", "HEAD"], include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} API",
            swagger_js_url=f"{STATIC}/swagger-ui-bundle.js",
            swagger_css_url=f"{STATIC}/swagger-ui.css",
            swagger_favicon_url=f"{STATIC}/favicon-32x32.png",
            # Swagger UI would otherwise send the document's address to validator.swagger.io
            swagger_ui_parameters={"validatorUrl": None},
        )
