from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine.harness import Harness
from tests.support.receiver import Receiver


@pytest.fixture
def harness(db_url: str, tmp_path: Path) -> Iterator[Harness]:
    h = Harness(db_url, tmp_path, heartbeat_interval=0.2, kill_grace=0.5, alert_timeout=2)
    yield h
    h.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()
