"""``maestro db prune`` on the embedded store, as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _maestro(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MAESTRO_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "maestro", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
        check=False,
    )


def test_prune_deletes_an_old_run_and_its_logs(tmp_path: Path) -> None:
    ran = _maestro(tmp_path, "run", "examples/hello.yaml", "--json")
    assert ran.returncode == 0, ran.stderr
    logs = tmp_path / "logs"
    assert any(logs.iterdir())
    kept = _maestro(tmp_path, "db", "prune", "--older-than", "1h")
    assert kept.returncode == 0, kept.stderr
    assert "deleted 0 runs" in kept.stderr
    time.sleep(1.1)
    pruned = _maestro(tmp_path, "db", "prune", "--older-than", "1s")
    assert pruned.returncode == 0, pruned.stderr
    assert "deleted 1 run " in pruned.stderr and "1 log folder" in pruned.stderr
    assert not any(logs.iterdir())


def test_a_bad_age_is_refused_naming_the_option(tmp_path: Path) -> None:
    bad = _maestro(tmp_path, "db", "prune", "--older-than", "soon")
    assert bad.returncode == 2
    assert "--older-than 'soon': invalid duration" in bad.stderr
