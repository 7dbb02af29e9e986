"""A harness whose engine sends its run events, through the OpenLineage client configured the
OpenLineage way, to a real HTTP receiver on loopback (``OPENLINEAGE_URL``) or to a file (an
``openlineage.yml`` named by ``OPENLINEAGE_CONFIG``): ``lineaged``, parametrized over both."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from maestro.lineage.client import OpenLineageSink, from_environment
from tests.engine.harness import Harness
from tests.support.openlineage import LineageReceiver
from tests.traces.conftest import TickingClock


@dataclass
class Lineaged:
    harness: Harness
    sink: OpenLineageSink
    collect: Callable[[], list[dict[str, Any]]]

    def events(self, job: str | None = None) -> list[dict[str, Any]]:
        found = self.collect()
        return [e for e in found if job is None or e["job"]["name"] == job]

    def states(self) -> dict[str, list[str]]:
        """Each job's event types, in the order sent."""
        found: dict[str, list[str]] = {}
        for e in self.collect():
            found.setdefault(e["job"]["name"], []).append(e["eventType"])
        return found


@pytest.fixture
def receiver() -> Iterator[LineageReceiver]:
    r = LineageReceiver().start()
    yield r
    r.stop()


def _clean_environment(monkeypatch: pytest.MonkeyPatch, cwd: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith(("OPENLINEAGE", "MAESTRO_OPENLINEAGE")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(cwd)  # no ./openlineage.yml but the test's own


@pytest.fixture(params=["http", "file"])
def lineaged(
    request: pytest.FixtureRequest,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Lineaged]:
    _clean_environment(monkeypatch, tmp_path)
    collect: Callable[[], list[dict[str, Any]]]
    if request.param == "http":
        receiver: LineageReceiver = request.getfixturevalue("receiver")
        monkeypatch.setenv("OPENLINEAGE_URL", receiver.url)
        collect = receiver.received
    else:
        log = tmp_path / "events.jsonl"
        config = tmp_path / "ol" / "openlineage.yml"
        config.parent.mkdir()
        config.write_text(f"transport:\n  type: file\n  log_file_path: {log}\n  append: true\n")
        monkeypatch.setenv("OPENLINEAGE_CONFIG", str(config))

        def collect() -> list[dict[str, Any]]:
            if not log.exists():
                return []
            return [json.loads(line) for line in log.read_text().splitlines() if line]

    sink = from_environment()
    home = tmp_path / "home"
    home.mkdir()
    h = Harness(db_url, home, heartbeat_interval=0.2, kill_grace=0.5)
    h.clock = h.engine.clock = TickingClock()
    h.engine.lineage = sink
    yield Lineaged(h, sink, collect)
    h.close()
