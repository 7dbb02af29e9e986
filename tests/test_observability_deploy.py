"""The observability deployment, checked by reading (no Docker engine runs here): the Grafana
dashboard (``deploy/grafana/maestro.json``) is a well-formed dashboard whose every query names
metrics this product exports, and the compose file's ``observability`` profile wires
Prometheus, Grafana, an OpenTelemetry collector and Jaeger to the Maestro processes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel, ConfigDict, Field

from api.app import create_app
from tests.engine.harness import Harness

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = json.loads((ROOT / "deploy/grafana/maestro.json").read_text())
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
OBSERVABILITY = ("prometheus", "grafana", "otel-collector", "jaeger")
#: PromQL words that are not metric names
PROMQL = {
    "sum", "by", "rate", "histogram_quantile", "max", "le", "instance", "queue", "status",
    "route", "pool", "state", "without", "avg", "min", "count",
}  # fmt: skip


class Datasource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["prometheus"]
    uid: Literal["${datasource}"]


class Target(BaseModel):
    refId: str = Field(pattern=r"^[A-Z]$")
    expr: str = Field(min_length=1)
    legendFormat: str
    datasource: Datasource


class GridPos(BaseModel):
    h: int = Field(ge=1, le=40)
    w: int = Field(ge=1, le=24)
    x: int = Field(ge=0, le=23)
    y: int = Field(ge=0)


class Panel(BaseModel):
    id: int = Field(ge=1)
    type: Literal["timeseries", "stat", "gauge", "bargauge", "table"]
    title: str = Field(min_length=1)
    datasource: Datasource
    gridPos: GridPos
    targets: list[Target] = Field(min_length=1)
    fieldConfig: dict[str, Any]


class Dashboard(BaseModel):
    uid: str = Field(pattern=r"^[a-z0-9-]{1,40}$")
    title: str
    schemaVersion: int = Field(ge=36)
    templating: dict[str, list[dict[str, Any]]]
    panels: list[Panel] = Field(min_length=1)
    time: dict[str, str]


def test_the_dashboard_is_a_well_formed_grafana_dashboard() -> None:
    board = Dashboard.model_validate(DASHBOARD)
    assert [v["name"] for v in board.templating["list"]] == ["datasource"]
    assert len({p.id for p in board.panels}) == len(board.panels), "panel ids repeat"
    cells: set[tuple[int, int]] = set()
    for p in board.panels:
        assert p.gridPos.x + p.gridPos.w <= 24, p.title
        mine = {
            (x, y)
            for x in range(p.gridPos.x, p.gridPos.x + p.gridPos.w)
            for y in range(p.gridPos.y, p.gridPos.y + p.gridPos.h)
        }
        assert not mine & cells, f"{p.title} overlaps another panel"
        cells |= mine
        assert len({t.refId for t in p.targets}) == len(p.targets), p.title


def _exported(harness: Harness) -> set[str]:
    """The metric names a live app declares after a run with a failed step."""
    run_id = harness.start(
        "id: m\nowner: o\nsteps:\n  - {id: a, type: shell, shell: {command: 'exit 1'}}\n"
    )
    harness.drain(run_id)
    with TestClient(create_app(harness.engine, auth=False), base_url="http://test") as client:
        client.get("/api/v1/workflows")  # a request, for the request metrics
        text = client.get("/metrics").text
    families = list(text_string_to_metric_families(text))
    # a family with no sample yet (no queued attempt: no queue depth) is still declared
    return {f.name for f in families} | {s.name for f in families for s in f.samples}


def test_every_query_of_the_dashboard_names_an_exported_metric(db_url: str, tmp_path: Path) -> None:
    harness = Harness(db_url, tmp_path)
    try:
        exported = _exported(harness)
    finally:
        harness.close()
    # a scheduler pass (maestro standalone runs the loop; the harness ticks by hand)
    exported |= {"maestro_scheduler_loop_seconds_bucket", "maestro_scheduler_loop_failures_total"}
    for panel in DASHBOARD["panels"]:
        for target in panel["targets"]:
            expr = re.sub(r'"[^"]*"|\[[^\]]*\]|\{\{[^}]*\}\}', "", target["expr"])
            names = set(re.findall(r"[a-z_][a-z0-9_]*", expr)) - PROMQL
            missing = {n for n in names if n not in exported}
            assert not missing, f"{panel['title']}: {missing} not exported"
            assert names, panel["title"]


def test_the_observability_profile_wires_every_part() -> None:
    for name in OBSERVABILITY:
        assert SERVICES[name]["profiles"] == ["observability"], name
        for volume in SERVICES[name].get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./") and not source.endswith("maestro-token"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
    prometheus = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    targets = {
        t
        for job in prometheus["scrape_configs"]
        for group in job["static_configs"]
        for t in group["targets"]
    }
    for target in targets:
        service, port = target.split(":")
        assert service in SERVICES, target
        command = SERVICES[service]["command"]
        if service != "api":  # the API serves /metrics on its own port
            assert command[command.index("--metrics-port") + 1] == port, target
        else:
            assert command[command.index("--port") + 1] == port
    env = COMPOSE["x-maestro-env"]
    assert env["MAESTRO_METRICS_ADDRESS"] == "0.0.0.0"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "${OTEL_EXPORTER_OTLP_ENDPOINT:-}"
    collector = yaml.safe_load((ROOT / "deploy/otel/collector.yaml").read_text())
    exporter = collector["exporters"]["otlp/jaeger"]["endpoint"]
    assert exporter.split(":")[0] in SERVICES
    assert collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(":4318")
    datasource = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"][0]
    assert datasource["url"] == "http://prometheus:9090"
