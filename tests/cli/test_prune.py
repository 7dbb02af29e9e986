"""``maestro db prune`` on the embedded store, as a user runs it."""

from __future__ import annotations

import time
from pathlib import Path

from tests.cli.test_cli import maestro


def test_prune_deletes_an_old_run_and_its_logs(tmp_path: Path) -> None:
    ran = maestro("run", "examples/hello.yaml", "--json", home=tmp_path)
    assert ran.returncode == 0, ran.stderr
    logs = tmp_path / "logs"
    assert any(logs.iterdir())
    kept = maestro("db", "prune", "--older-than", "1h", home=tmp_path)
    assert kept.returncode == 0, kept.stderr
    assert "deleted 0 runs" in kept.stderr
    time.sleep(1.1)
    pruned = maestro("db", "prune", "--older-than", "1s", home=tmp_path)
    assert pruned.returncode == 0, pruned.stderr
    assert "deleted 1 run " in pruned.stderr and "1 log folder" in pruned.stderr
    assert not any(logs.iterdir())


def test_a_bad_age_is_refused_naming_the_option(tmp_path: Path) -> None:
    bad = maestro("db", "prune", "--older-than", "soon", home=tmp_path)
    assert bad.returncode == 2
    assert "--older-than 'soon': invalid duration" in bad.stderr
