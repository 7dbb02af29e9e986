"""The API processes and tokens: ``maestro server`` (distributed), ``maestro standalone``
(embedded: API, scheduler and workers in one process) and ``maestro token``."""

from __future__ import annotations

import getpass
import ipaddress
import json
import os
from typing import TYPE_CHECKING, Annotated

import typer
import uvicorn
from rich.console import Console
from rich.table import Table

from api.app import create_app
from api.guard import LOOPBACK_HOSTS
from maestro.cli.common import app, err, fail, open_store, shown_url
from maestro.cli.distributed import _connect
from maestro.cli.local import embedded
from maestro.clock import SystemClock
from maestro.definition import parse_duration
from maestro.engine import audit
from maestro.engine.core import Engine
from maestro.errors import Conflict, NotFound
from maestro.log_format import json_logs
from maestro.reads.events import token_events
from maestro.settings import Settings, load_settings
from maestro.store.tokens import Scope, create_token, list_tokens, revoke_token
from workers.celery_app import CeleryDispatcher, create_celery_app

if TYPE_CHECKING:
    from fastapi import FastAPI

token_app = typer.Typer(help="API tokens (read, write, admin), kept in the database.")
app.add_typer(token_app, name="token", no_args_is_help=True)

Host = Annotated[str, typer.Option(help="Address to listen on.")]
Port = Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _serve(api: FastAPI, host: str, port: int) -> None:
    """Serve until SIGINT/SIGTERM (uvicorn handles them and returns)."""
    # JSON logs: uvicorn's loggers go through the root logger's JSON formatter
    log_config = None if json_logs() else uvicorn.config.LOGGING_CONFIG
    config = uvicorn.Config(
        api, host=host, port=port, log_level="warning", access_log=False, log_config=log_config
    )
    uvicorn.Server(config).run()


@app.command()
def server(host: Host = "127.0.0.1", port: Port = 8080) -> None:
    """Serve the REST API (distributed mode): runs start on the workers through the broker.

    Bearer tokens are required unless MAESTRO_AUTH=false, which is refused on an address
    other than loopback. Configured by MAESTRO_DATABASE_URL and MAESTRO_BROKER_URL.
    """
    settings = load_settings()
    auth = True if settings.auth is None else settings.auth
    if not auth and not is_loopback(host):
        fail(
            f"refusing to serve {host} without authentication: "
            "unset MAESTRO_AUTH (tokens are required by default) or listen on 127.0.0.1"
        )
    db = _connect(settings, pre_ping=True)  # a restarted database fails no request
    celery = create_celery_app(settings)
    engine = Engine(db, settings, dispatcher=CeleryDispatcher(celery))

    def broker() -> None:
        with celery.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)

    api = create_app(
        engine,
        auth=auth,
        max_body_bytes=settings.max_body_bytes,
        readiness=[("broker", broker)],
        allowed_hosts=settings.allowed_host_list or (LOOPBACK_HOSTS if is_loopback(host) else None),
        cors_origins=settings.cors_origin_list,
    )
    err.print(
        f"maestro server on http://{host}:{port} · {shown_url(settings)}"
        f"{'' if auth else ' · authentication disabled'}",
        highlight=False,
    )
    try:
        _serve(api, host, port)
    finally:
        db.dispose()


@app.command()
def standalone(port: Port = 8080) -> None:
    """Serve the API, a scheduler and local workers in one process (embedded store).

    The store is the SQLite file under $MAESTRO_HOME; the API listens on
    http://127.0.0.1:PORT. No tokens are needed unless MAESTRO_AUTH=true.
    """
    settings = load_settings()
    auth = bool(settings.auth)
    with embedded(settings, None) as env:
        api = create_app(
            env.engine,
            auth=auth,
            max_body_bytes=settings.max_body_bytes,
            allowed_hosts=settings.allowed_host_list or LOOPBACK_HOSTS,
            cors_origins=settings.cors_origin_list,
        )
        err.print(
            f"maestro standalone on http://127.0.0.1:{port} · {shown_url(settings)}"
            f"{'' if auth else ' · no tokens needed'}",
            highlight=False,
        )
        _serve(api, "127.0.0.1", port)


# -- tokens --------------------------------------------------------------------------------


def _local_actor() -> str:
    """Who changes tokens: the operating-system user running the command on the store."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no name for this uid (a container)
        return f"cli:uid-{os.getuid()}"


def _store(settings: Settings) -> Engine:
    return Engine(open_store(settings), settings)


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option(help="The token's name: the actor of what it does.")],
    scope: Annotated[Scope, typer.Option(help="read, write or admin.")] = Scope.read,
    owner: Annotated[
        list[str],
        typer.Option(help="An owner whose workflows it may change (repeatable; none: any)."),
    ] = [],  # noqa: B006  # typer reads the default
    expires: Annotated[
        str | None,
        typer.Option(
            help="Refuse it after this long (90d, 12h); default: it lives until revoked.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Create a token and print it: it is shown this once and stored only as a hash."""
    now = SystemClock().now()
    try:
        expires_at = now + parse_duration(expires) if expires is not None else None
    except ValueError as exc:
        fail(f"--expires: {exc}")
    engine = _store(load_settings())
    try:
        with engine.unit(actor=_local_actor()) as u:
            token = create_token(u.conn, name, scope, owner, now, expires_at)
            owners = ", ".join(owner) or "any owner"
            audit.token_event(u, "create", f"{name}: {scope.value} for {owners}")
    except (Conflict, ValueError) as exc:
        fail(str(exc))
    finally:
        engine.db.dispose()
    until = f", expires {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else ""
    err.print(f"token {name!r} ({scope.value}{until}); it is not shown again:", highlight=False)
    print(token)


@token_app.command("list")
def token_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    revoked: Annotated[bool, typer.Option(help="Include revoked tokens.")] = False,
) -> None:
    """List tokens (names, scopes, owners; never the tokens themselves)."""
    engine = _store(load_settings())
    try:
        with engine.db.read() as conn:
            tokens = list_tokens(conn, include_revoked=revoked)
    finally:
        engine.db.dispose()
    if as_json:
        print(json.dumps([{**vars(t), "scope": t.scope.value} for t in tokens], default=str))
        return
    table = Table("name", "scope", "owners", "created", "last used", "expires", "revoked")
    for t in tokens:
        table.add_row(
            t.name,
            t.scope.value,
            ", ".join(t.owners) or "(any)",
            _when(t.created_at),
            _when(t.last_used_at),
            _when(t.expires_at),
            _when(t.revoked_at),
        )
    Console().print(table)


def _when(value: object) -> str:
    return "" if value is None else str(value)[:19]


@token_app.command("history")
def token_history(
    limit: Annotated[int, typer.Option(min=1, max=500, help="At most this many.")] = 50,
) -> None:
    """Tokens created and revoked, and by whom (the system user who ran the command)."""
    engine = _store(load_settings())
    try:
        with engine.db.read() as conn:
            events = token_events(conn, limit=limit)
    finally:
        engine.db.dispose()
    table = Table("when", "action", "by", "token")
    for e in events:
        table.add_row(_when(e.at), e.action or "", e.actor, e.message or "")
    Console().print(table)


@token_app.command("revoke")
def token_revoke(name: Annotated[str, typer.Argument(help="The token's name.")]) -> None:
    """Revoke the live token called NAME (requests with it get 401 from now on)."""
    engine = _store(load_settings())
    try:
        with engine.unit(actor=_local_actor()) as u:
            revoke_token(u.conn, name, SystemClock().now())
            audit.token_event(u, "revoke", name)
    except NotFound as exc:
        fail(exc.message, code=1)
    finally:
        engine.db.dispose()
    err.print(f"token {name!r} revoked", highlight=False)
