"""``maestro import maestro``: files written, the report (text and --json), exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from maestro.cli import app

FIXTURES = Path(__file__).parent / "fixtures"


def test_a_folder_with_one_not_importable_exits_1(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["import", "maestro", str(FIXTURES), "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "branching.yaml",
        "loops.yaml",
        "parent.yaml",
        "plain-dag.yaml",
        "triggered.yaml",
    ]
    assert "container.json: not importable" in result.stdout
    assert "not importable: workflow.steps[0].step.type: kubernetes" in result.stdout
    assert "0 translated, 5 translated with notes, 1 not importable" in result.stdout
    text = (out / "branching.yaml").read_text()
    assert text.startswith("# Imported from Maestro: branching.json")
    assert "trigger_rule: any_taken" in text


def test_json_report_and_exit_0_when_all_translate(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(FIXTURES / "plain-dag.json", src)
    result = CliRunner().invoke(app, ["import", "maestro", str(src), "--json"])
    assert result.exit_code == 0, result.output
    (report,) = json.loads(result.stdout)
    assert report["result"] == "translated with notes"
    assert report["workflow_id"] == "compat-plain-dag"
    assert report["output"] == str(src / "plain-dag.yaml") and (src / "plain-dag.yaml").exists()
    assert report["reasons"] == [] and report["notes"][0]["path"] == "workflow"


def test_a_file_that_is_not_maestro_json(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"id": "x"}')
    result = CliRunner().invoke(app, ["import", "maestro", str(bad), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)[0]["reasons"][0]["message"].startswith("not a Maestro")


def test_validate_accepts_maestro_json_and_names_paths_when_not_importable() -> None:
    ok = CliRunner().invoke(app, ["validate", str(FIXTURES / "plain-dag.json")])
    assert ok.exit_code == 0, ok.output
    bad = CliRunner().invoke(app, ["validate", str(FIXTURES / "container.json")])
    assert bad.exit_code != 0
    assert "workflow.steps[0].step.type" in bad.output
