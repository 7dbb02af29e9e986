"""Property-based checks of the whole API against its own OpenAPI document (schemathesis):
no 5xx for any generated request, and every response — status code, content type, headers,
body — as the document says. In-process (ASGI), on SQLite, with an admin token; a workflow
and a run exist so that generated requests also reach the paths that find something."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode, checks

from api.app import create_app
from maestro.definition import load_definition
from maestro.engine.core import Engine
from maestro.engine.runs import create_run
from maestro.engine.start import start_run
from maestro.engine.workflows import submit
from maestro.settings import load_settings
from maestro.store.db import Database
from maestro.store.migrate import upgrade
from maestro.store.tokens import Scope, create_token
from tests.api.conftest import workflow_yaml
from tests.conftest import BACKENDS, drop_pg_database, fresh_pg_database

TOKEN: dict[str, str] = {}


@pytest.fixture(scope="module", params=BACKENDS)
def api_schema(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    home = tmp_path_factory.mktemp("schemathesis")
    pg_name = None
    if request.param == "sqlite":
        url = f"sqlite:///{home / 'maestro.db'}"
    else:
        pg_name, url = fresh_pg_database(request.getfixturevalue("pg_template"))
    db = Database(url)
    upgrade(db)
    engine = Engine(db, load_settings(home=home, project_dir=home))  # runs never execute
    with engine.unit() as u:
        submit(u, load_definition(workflow_yaml()))
        start_run(u, engine.versions, create_run(u, engine.versions, "hello"))
    with db.tx() as conn:
        TOKEN["admin"] = create_token(conn, "admin", Scope.admin, [], engine.clock.now())
    app = create_app(engine, auth=True)
    loaded = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    # valid and invalid requests alike, NUL bytes included
    loaded.config.generation.update(allow_x00=True)
    yield loaded
    db.dispose()
    if pg_name:
        drop_pg_database(pg_name)


def no_server_error(ctx: Any, response: Any, case: Any) -> None:
    """Like schemathesis' not_a_server_error, with the response body in the message."""
    if response.status_code >= 500:
        raise AssertionError(f"{response.status_code}: {response.text[:500]}")


CHECKS = [
    no_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]


def test_the_api_keeps_its_contract(api_schema: Any) -> None:
    """Every operation, 25 generated requests each (valid and invalid alike). Driven through
    schemathesis' public strategies and plain hypothesis rather than its pytest plugin, which
    reads pytest internals that pytest 9.2 removed."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 30  # the whole document, not a stub of it
    for operation in operations:
        try:
            _check_operation(operation)
        except BaseException as exc:  # schemathesis' FailureGroup is a BaseExceptionGroup
            exc.add_note(f"operation: {operation.label}")
            raise


def _check_operation(operation: Any) -> None:
    cases = st.one_of(*(operation.as_strategy(generation_mode=m) for m in GenerationMode))

    @given(case=cases)
    @settings(
        max_examples=25,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        if case.method == "DELETE":  # deleting the seeded workflow would starve later cases
            case.query = {**(case.query or {}), "force": "false"}
        headers = {"Authorization": f"Bearer {TOKEN['admin']}"}
        case.call_and_validate(headers=headers, checks=CHECKS)

    check()


def test_the_document_is_complete(api_schema: Any, tmp_path: Path) -> None:
    raw = api_schema.raw_schema
    for path, operations in raw["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            assert operation.get("description") or operation.get("summary"), where
            codes = set(operation["responses"])
            assert any(c.startswith("2") for c in codes), where
            for code, response in operation["responses"].items():
                if int(code) >= 400:
                    assert "application/problem+json" in response["content"], where
    assert "Problem" in raw["components"]["schemas"]
    assert raw["components"]["securitySchemes"]["token"]["scheme"] == "bearer"
