"""Shared pieces of the ``maestro`` command: the typer apps, error output, definitions."""

from __future__ import annotations

import json
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.text import Text
from sqlalchemy.engine import make_url

from api.web.dag import definition_svg
from maestro import __version__
from maestro.definition import WorkflowDefinition, load_definition, to_dot, to_mermaid
from maestro.engine.catalog import alert_connection_problems
from maestro.errors import DefinitionError, Problem
from maestro.log_format import configure_logging
from maestro.settings import Settings, load_settings
from maestro.store.db import Database
from maestro.store.migrate import upgrade
from maestro.wording import plural

app = typer.Typer(
    help="Maestro for Python: YAML workflows of data-platform steps, run and recorded.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema management.", no_args_is_help=True)
app.add_typer(db_app, name="db")

# soft_wrap: messages are never cut into 80-column lines (a pipe or a log file has no width)
err = Console(stderr=True, soft_wrap=True)
STATUS_STYLE = {
    "SUCCEEDED": "green",
    "FAILED": "red",
    "TIMED_OUT": "red",
    "UPSTREAM_FAILED": "red",
    "FAILED_IGNORED": "yellow",
    "SKIPPED": "dim",
    "STOPPED": "magenta",
    "RUNNING": "cyan",
    "QUEUED": "blue",
    "RETRYING": "yellow",
    "WAITING": "blue",
    "PENDING": "white",
}


#: a command run with ``--json`` (``json_errors``): its errors are also one JSON object on
#: stdout, so a script that parses stdout gets something to parse
_JSON_ERRORS = threading.local()


@contextmanager
def json_errors(on: bool) -> Iterator[None]:
    """While ``on``, ``fail`` and an invalid definition also print ``{"error": …}`` on stdout."""
    _JSON_ERRORS.on = on
    try:
        yield
    finally:
        _JSON_ERRORS.on = False


def _json_error(message: str, code: int, problems: list[Problem] | None = None) -> None:
    if getattr(_JSON_ERRORS, "on", False):
        body: dict[str, Any] = {"error": message, "exit_code": code}
        if problems is not None:
            body["problems"] = [{"loc": list(p.loc), "msg": p.msg} for p in problems]
        print(json.dumps(body))


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a readable error (never a traceback) and exit."""
    err.print(f"[red]error:[/red] {message}", highlight=False, markup=True)
    _json_error(message, code)
    raise typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        print(f"maestro {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    configure_logging()


# -- definitions ----------------------------------------------------------------------------


def read_definition(file: Path, invalid_exit: int = 2) -> WorkflowDefinition:
    try:
        text = file.read_bytes()
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}")
    try:
        return load_definition(text, source=str(file))
    except DefinitionError as exc:
        err.print(Text(exc.message, style="red"), soft_wrap=True)
        _json_error(exc.message.splitlines()[0], invalid_exit, exc.problems)
        raise typer.Exit(invalid_exit) from None


FileArg = Annotated[
    Path, typer.Argument(help="Workflow definition (YAML or JSON).", show_default=False)
]


@app.command()
def validate(file: FileArg) -> None:
    """Validate a workflow definition; print every problem with its path (exit 1 if any).

    Alert connections are resolved as `maestro run` resolves them (the file's folder, then
    `MAESTRO_CONNECTIONS_FILE`): one it cannot resolve here is a warning (a server may have
    it; `maestro run` here refuses it)."""
    definition = read_definition(file, invalid_exit=1)
    for problem in alert_connection_problems(
        load_settings(project_dir=file.resolve().parent), definition
    ):
        err.print(
            f"[yellow]warning:[/yellow] {problem} — `maestro run` here refuses it, a server "
            "with the connection accepts it (MAESTRO_ALERT_CHECK_CONNECTIONS=false: no check)",
            highlight=False,
            soft_wrap=True,
        )
    print(f"{file}: valid workflow {definition.id!r} with {plural(len(definition.steps), 'step')}")


@app.command()
def graph(
    file: FileArg,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="mermaid, dot, or svg (as the web view draws it).")
    ] = "mermaid",
) -> None:
    """Draw the workflow's DAG as Mermaid or Graphviz dot text, or as an SVG image.

    `maestro graph flow.yaml -f svg > flow.svg` gives the drawing of the web view's run page.
    """
    definition = read_definition(file)
    if fmt == "dot":
        print(to_dot(definition))
    elif fmt == "mermaid":
        print(to_mermaid(definition))
    elif fmt == "svg":
        steps = [(s.id, s.upstreams, s.type.value) for s in definition.steps]
        label = f"DAG of workflow {definition.id}: {plural(len(steps), 'step')}"
        sys.stdout.write(definition_svg(steps, label))
    else:
        fail(f"--format must be mermaid, dot or svg, not {fmt!r}")


def open_store(settings: Settings) -> Database:
    """The store of ``settings``, migrated to the current schema."""
    db: Database | None = None
    try:
        db = Database(
            settings.effective_database_url, sqlite_synchronous=settings.sqlite_synchronous
        )
        upgrade(db)
    except Exception as exc:  # a bad URL, an unreachable server, a home it cannot make
        if db is not None:
            db.dispose()
        shown = shown_url(settings)
        detail = " ".join(str(exc).split()) or type(exc).__name__
        if settings.database_url:  # the driver's message might quote the URL it was given
            detail = detail.replace(settings.database_url, shown)
        fail(f"cannot open the store at {shown}: {detail}")
    return db


def parse_params(pairs: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            fail(f"--param {pair!r}: expected NAME=VALUE")
        params[name.strip()] = value
    return params


def shown_url(settings: Settings) -> str:
    """The store's URL without its password (``***``), even one that does not parse."""
    url = settings.effective_database_url
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # SQLAlchemy's ArgumentError, a port that is not a number
        return re.sub(r"(//[^:/@]*:).*@", r"\1***@", url)  # to the last @: one in it too
