"""docker-compose.yml is written for users (no Docker engine runs here): check it by reading.

Every Maestro service must run a command the CLI accepts (parsed by the real typer app),
the stateful services need healthchecks, and everything else must wait for the migration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml

from maestro.cli import app
from maestro.settings import load_settings
from workers.celery_app import create_celery_app

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
MAESTRO_SERVICES = [name for name, s in SERVICES.items() if "maestro-py" in str(s.get("image"))]


class BadCommand(Exception):
    pass


def _parse(args: list[str]) -> None:
    """Parse ``maestro ARGS`` like the real command line would, without running it.

    (typer vendors its own click, so groups are recognized by what they can do.)
    """
    command: Any = typer.main.get_command(app)
    try:
        ctx = command.make_context("maestro", list(args))
        while hasattr(command, "resolve_command"):
            pending = [*getattr(ctx, "_protected_args", []), *ctx.args]
            if not pending:
                break
            name, sub, rest = command.resolve_command(ctx, pending)
            command, ctx = sub, sub.make_context(name or "", rest, parent=ctx)
    except Exception as exc:  # the vendored click's UsageError and friends
        raise BadCommand(f"maestro {' '.join(args)}: {exc}") from exc


def test_the_deployment_has_every_process() -> None:
    assert {"postgres", "redis", "migrate", "api", "scheduler", "worker", "worker-spark"} <= set(
        SERVICES
    )
    assert set(MAESTRO_SERVICES) >= {"migrate", "api", "scheduler", "worker", "worker-spark"}


@pytest.mark.parametrize("service", MAESTRO_SERVICES)
def test_each_service_runs_a_real_maestro_command(service: str) -> None:
    _parse(SERVICES[service]["command"])


def test_the_queues_are_served() -> None:
    command = SERVICES["worker"]["command"]
    assert command[command.index("--queues") + 1] == "default"
    assert "spark" in SERVICES["worker-spark"]["command"]
    assert SERVICES["worker-spark"]["build"]["target"] == "spark"


def test_healthchecks_and_startup_order() -> None:
    for name in ("postgres", "redis", "api"):
        assert "healthcheck" in SERVICES[name], name
    for name in ("api", "scheduler", "worker", "worker-spark"):
        needs = SERVICES[name]["depends_on"]
        assert needs["migrate"]["condition"] == "service_completed_successfully"
    assert SERVICES["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    environment = SERVICES["scheduler"]["environment"]
    assert environment["MAESTRO_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert environment["MAESTRO_BROKER_URL"].startswith("redis://")


def test_a_wrong_command_would_be_caught() -> None:
    with pytest.raises(BadCommand, match="no-such-option"):
        _parse(["worker", "--no-such-option"])
    with pytest.raises(BadCommand, match="no-such-command"):
        _parse(["no-such-command"])
    with pytest.raises(BadCommand):
        _parse(["db", "downgrade"])


def test_every_built_service_names_a_stage_of_the_dockerfile() -> None:
    """A `build` without a target builds the Dockerfile's last stage (spark) for everyone."""
    stages = {
        line.split()[-1]
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("FROM ") and " AS " in line
    }
    built = {name: s["build"] for name, s in SERVICES.items() if "build" in s}
    assert built, "no service is built from the Dockerfile"
    for name, build in built.items():
        assert isinstance(build, dict) and build.get("target") in stages, name
    assert SERVICES["worker-spark"]["build"]["target"] == "spark"
    assert SERVICES["api"]["build"]["target"] == "base"


def test_the_images_install_from_the_lock() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install" not in dockerfile.replace("scripts/install.sh", "")
    assert "scripts/install.sh run" in dockerfile and "scripts/install.sh spark" in dockerfile


def test_the_readme_sample_is_examples_hello() -> None:
    readme = (ROOT / "README.md").read_text()
    sample = readme.split("## A workflow\n\n```yaml\n", 1)[1].split("```", 1)[0]
    assert sample == (ROOT / "examples" / "hello.yaml").read_text()


def test_the_readme_first_screen_gives_the_two_commands_ci_runs() -> None:
    first_screen = (ROOT / "README.md").read_text().split("---\n", 1)[0]
    commands = [line for line in first_screen.splitlines() if line.startswith("bash scripts/")]
    assert commands == [
        "bash scripts/install.sh && maestro run examples/hello.yaml",
        "bash scripts/test.sh",
    ]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash scripts/install.sh && maestro run examples/hello.yaml" in ci
    assert "bash scripts/test.sh" in ci and "scripts/lock.sh --check" in ci
    assert "Python 3.11" in first_screen and "python3 -m venv .venv" in first_screen


def test_maestro_is_no_superuser_of_its_database() -> None:
    """The postgres image makes POSTGRES_USER a superuser: Maestro must connect as another
    role, made by the init script as owner of its database only."""
    postgres = SERVICES["postgres"]
    environment = postgres["environment"]
    url = SERVICES["scheduler"]["environment"]["MAESTRO_DATABASE_URL"]
    user = url.split("://", 1)[1].split(":", 1)[0]
    assert user == environment["MAESTRO_DB_USER"] != environment["POSTGRES_USER"]
    mounts = [volume.split(":") for volume in postgres["volumes"]]
    init = next(host for host, target, *_ in mounts if target == "/docker-entrypoint-initdb.d")
    script = (ROOT / init / "10-maestro-role.sh").read_text()
    assert "NOSUPERUSER" in script and "OWNER" in script


def test_workers_take_only_what_a_free_slot_can_start_unless_told() -> None:
    assert create_celery_app(load_settings()).conf.worker_disable_prefetch is True
    eager = create_celery_app(load_settings(worker_prefetch=True))
    assert eager.conf.worker_disable_prefetch is False
    _parse(["worker", "--prefetch", "--queues", "default"])
