"""The web run-history view, served by the API process at ``/``: server-rendered pages
(Jinja2 templates, a little plain JavaScript, no front-end build) over the same store, auth
and engine actions as the REST API. ``create_web_router()`` is what ``api.app`` includes;
``install_page_errors(app)`` makes the pages' errors HTML pages."""

from __future__ import annotations

from fastapi import APIRouter, Path
from fastapi.responses import Response

from api.web import actions, backfills, logs, pages, run_actions, runs_page, versions
from api.web.errors import install as install_page_errors
from api.web.render import PAGE_METHODS, static_response


def create_web_router() -> APIRouter:
    """The pages, their forms, the login form and the static files (CSS, JS)."""
    router = APIRouter(include_in_schema=False)
    router.include_router(pages.router)
    router.include_router(runs_page.router)
    router.include_router(logs.router)
    router.include_router(actions.router)
    router.include_router(versions.router)
    router.include_router(run_actions.router)
    router.include_router(backfills.router)

    @router.api_route("/static/{name}", methods=PAGE_METHODS)
    def static(name: str = Path(pattern=r"^[a-z0-9_.-]{1,64}$")) -> Response:
        return static_response(name)

    return router


__all__ = ["create_web_router", "install_page_errors"]
