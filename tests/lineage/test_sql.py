"""The tables of a statement, read by sqlglot: sources in, the target out, qualified with the
connection's database and default schema."""

from __future__ import annotations

import pytest

from maestro.lineage.records import DatasetName, SqlSource
from maestro.lineage.sql import tables

NS = "postgres://db:5432"


def _tables(sql: str, dialect: str = "postgres") -> tuple[list[str], list[str]]:
    inputs, outputs = tables(SqlSource(sql, dialect, NS, "sales", "public"))
    assert all(d.namespace == NS for d in [*inputs, *outputs])
    return [d.name for d in inputs], [d.name for d in outputs]


@pytest.mark.parametrize(
    ("sql", "inputs", "outputs"),
    [
        ("select * from orders", ["sales.public.orders"], []),
        (
            "insert into mart.totals select c.name, sum(o.amount) from orders o "
            "join crm.customers c on c.id = o.customer_id group by c.name",
            ["sales.public.orders", "sales.crm.customers"],
            ["sales.mart.totals"],
        ),
        ("insert into t (a, b) values (1, 2)", [], ["sales.public.t"]),
        (
            "create table daily as with recent as (select * from events where day > now()) "
            "select * from recent",
            ["sales.public.events"],
            ["sales.public.daily"],
        ),
        (
            "merge into dim d using staging.dim s on d.id = s.id "
            "when matched then update set name = s.name "
            "when not matched then insert (id, name) values (s.id, s.name)",
            ["sales.staging.dim"],
            ["sales.public.dim"],
        ),
        # other.x.y names its database: kept
        ("insert into a select * from other.x.y", ["other.x.y"], ["sales.public.a"]),
        # DDL and statements that move no data: nothing
        ("create table z (a int)", [], []),
        ("drop table z", [], []),
        # several statements: each table once
        (
            "insert into a select * from b; insert into a select * from b",
            ["sales.public.b"],
            ["sales.public.a"],
        ),
    ],
)
def test_the_tables_of_a_statement(sql: str, inputs: list[str], outputs: list[str]) -> None:
    assert _tables(sql) == (inputs, outputs)


def test_a_statement_sqlglot_cannot_parse_gives_no_tables() -> None:
    assert tables(SqlSource("insert into (((", "postgres", NS)) == ([], [])


def test_a_dialects_quoting() -> None:
    inputs, outputs = tables(
        SqlSource('insert into "Out" select * from "In"', "duckdb", "duckdb:///w.db", None, "main")
    )
    assert inputs == [DatasetName("duckdb:///w.db", "main.In")]
    assert outputs == [DatasetName("duckdb:///w.db", "main.Out")]
