"""Named connections: lookup order, file formats, and secrets kept out of every message."""

from __future__ import annotations

from pathlib import Path

import pytest

from maestro.connections import (
    ConnectionLookupError,
    env_var_name,
    redact,
    resolve,
    scrub,
    secrets_of,
)


def project_file(root: Path) -> Path:
    """The project's own connections file, ``.maestro/connections.yaml``."""
    path = root / ".maestro" / "connections.yaml"
    path.parent.mkdir(exist_ok=True)
    return path


def test_env_var_names_upper_case_and_underscore_the_name() -> None:
    assert env_var_name("warehouse") == "MAESTRO_CONN_WAREHOUSE"
    assert env_var_name("dw-eu.main") == "MAESTRO_CONN_DW_EU_MAIN"


def test_the_environment_wins_over_both_files(tmp_path: Path) -> None:
    configured = tmp_path / "conf.yaml"
    configured.write_text("warehouse: duckdb:///from-settings.duckdb\n")
    project_file(tmp_path).write_text("warehouse: duckdb:///from-project.duckdb\n")
    env = {"MAESTRO_CONN_WAREHOUSE": "duckdb:///from-env.duckdb"}
    conn = resolve("Warehouse", connections_file=configured, project_dir=tmp_path, environ=env)
    assert (conn.url, conn.source) == ("duckdb:///from-env.duckdb", "$MAESTRO_CONN_WAREHOUSE")


def test_the_configured_file_wins_over_the_project_file(tmp_path: Path) -> None:
    configured = tmp_path / "conf.yaml"
    configured.write_text("Warehouse: {url: 'duckdb:///from-settings.duckdb'}\n")
    project_file(tmp_path).write_text(
        "warehouse: duckdb:///from-project.duckdb\nother: duckdb:///other.duckdb\n"
    )
    conn = resolve("WAREHOUSE", connections_file=configured, project_dir=tmp_path, environ={})
    assert conn.url == "duckdb:///from-settings.duckdb"
    assert conn.source == str(configured)
    other = resolve("other", connections_file=configured, project_dir=tmp_path, environ={})
    assert other.url == "duckdb:///other.duckdb"  # not in the configured file: the project's


def test_file_urls_take_variables_from_the_environment(tmp_path: Path) -> None:
    project_file(tmp_path).write_text("pg: postgresql://etl:${PG_PW}@db/x\n")
    conn = resolve("pg", project_dir=tmp_path, environ={"PG_PW": "hunter22"})
    assert conn.url == "postgresql://etl:hunter22@db/x"
    assert conn.redacted == "postgresql://etl:***@db/x"
    with pytest.raises(ConnectionLookupError, match=r"uses \$\{PG_PW\}, which is not set"):
        resolve("pg", project_dir=tmp_path, environ={})


def test_an_unknown_name_says_where_it_looked(tmp_path: Path) -> None:
    project_file(tmp_path).write_text("a: duckdb:///a.duckdb\n")
    with pytest.raises(ConnectionLookupError) as caught:
        resolve("missing", project_dir=tmp_path, environ={})
    message = str(caught.value)
    assert "unknown connection 'missing'" in message
    assert "MAESTRO_CONN_MISSING" in message and str(project_file(tmp_path)) in message


def test_a_configured_file_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConnectionLookupError, match="does not exist"):
        resolve("a", connections_file=tmp_path / "nope.yaml", environ={})


def test_a_broken_file_is_reported_without_quoting_it(tmp_path: Path) -> None:
    project_file(tmp_path).write_text("a: postgresql://u:topsecret@h/d\nb: [unclosed\n")
    with pytest.raises(ConnectionLookupError) as caught:
        resolve("a", project_dir=tmp_path, environ={})
    assert "topsecret" not in str(caught.value)
    assert "cannot read the connections file" in str(caught.value)


def test_an_entry_without_a_url_is_an_error(tmp_path: Path) -> None:
    project_file(tmp_path).write_text("a: {host: x}\n")
    with pytest.raises(ConnectionLookupError, match="must be a URL or a map with a 'url' key"):
        resolve("a", project_dir=tmp_path, environ={})


def test_redact_hides_the_password_and_secret_query_values() -> None:
    url = "trino://etl:pa55word@trino:8443/hive?access_token=tok123&source=maestro"
    shown = redact(url)
    assert "pa55word" not in shown and "tok123" not in shown
    assert "etl:***@trino:8443/hive" in shown and "source=maestro" in shown
    assert sorted(secrets_of(url)) == ["pa55word", "tok123"]
    assert redact("not a url") == "<unparsable URL>"


def test_scrub_removes_every_secret_from_a_message() -> None:
    message = "could not connect with pa55word (and pa55word-long) for tok123"
    assert scrub(message, ["pa55word", "pa55word-long", "tok123"]) == (
        "could not connect with *** (and ***) for ***"
    )
