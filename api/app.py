"""The application factory: ``create_app(engine, auth=…)`` builds one FastAPI app around an
engine the caller owns (``maestro server``, ``maestro standalone``, tests)."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from sqlalchemy import text

from api import errors
from api.docs import install_docs
from api.guard import BrowserGuard
from api.metrics import Metrics, RequestMetrics
from api.parsing import DefinitionParser
from api.routers import alerts, health, metrics, pools, runs, signals, workflows
from api.routers.health import Check
from api.schemas.common import Problem
from api.throttle import Throttle
from api.web import create_web_router, install_page_errors
from maestro import __version__
from maestro.engine.core import Engine

PREFIX = "/api/v1"
DEFAULT_MAX_BODY = 1024 * 1024


def create_app(
    engine: Engine,
    *,
    auth: bool,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    readiness: Sequence[Check] = (),
    allowed_hosts: Sequence[str] | None = None,
    cors_origins: Sequence[str] = (),
) -> FastAPI:
    """The API on ``engine``. ``auth``: require bearer tokens (``maestro server``) or let
    every caller act as ``anonymous`` (``maestro standalone`` on 127.0.0.1). ``readiness``:
    extra checks of /readyz besides the database (the broker, in distributed mode).
    ``allowed_hosts``: the names the Host header may give (None: any); ``cors_origins``: other
    origins whose pages may call the API (CORS headers are sent for them only). See
    ``api.guard`` for what a browser on another site is refused."""
    app = FastAPI(
        title="Maestro",
        version=__version__,
        description="Workflows as a service: submit YAML workflows, run them, watch them.",
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=None,  # api.docs serves Swagger UI from this server, not from a CDN
        redoc_url=None,
    )
    app.state.engine = engine
    app.state.auth = auth
    app.state.readiness = [("database", lambda: _ping(engine)), *readiness]
    app.state.metrics = Metrics(engine)
    app.state.throttle = Throttle()  # bad tokens and logins, per client address
    app.state.parser = DefinitionParser()
    for module in (workflows, runs, alerts, signals, pools, health, metrics):
        app.include_router(module.router, prefix=PREFIX)
    # the conventional unversioned paths of probes and scrapers
    app.include_router(health.router, include_in_schema=False)
    app.include_router(metrics.router, include_in_schema=False)
    app.include_router(create_web_router())  # the web view at /
    install_docs(app, app.openapi_url or f"{PREFIX}/openapi.json")
    errors.install(app)
    install_page_errors(app)  # after the API's handlers: pages answer HTML errors
    # the last added runs first: CatchAll wraps everything, BodyLimit sits next to the routes
    app.add_middleware(errors.BodyLimit, limit=max_body_bytes)
    app.add_middleware(RequestMetrics, metrics=app.state.metrics, prefix=PREFIX)
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["*"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
            expose_headers=["X-Next-Offset", "X-Attempt-Status"],
        )
    app.add_middleware(
        BrowserGuard,
        allowed_hosts=allowed_hosts,
        cors_origins=cors_origins,
        typed_posts=not auth,  # without tokens, the only thing between a web page and a run
    )
    app.add_middleware(errors.CatchAll)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]  # FastAPI's documented hook
    if engine.spans is not None:  # traces on: each request a span (loaded only then)
        importlib.import_module("api.otel").instrument(app, engine.spans)
    return app


def _ping(engine: Engine) -> None:
    with engine.db.read() as conn:
        conn.execute(text("SELECT 1"))


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        app.openapi_schema = errors.document_problems(schema, problem)
    return app.openapi_schema
