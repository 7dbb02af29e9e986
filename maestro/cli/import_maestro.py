"""``maestro import maestro SRC... [--out DIR] [--json]``: Netflix Maestro JSON definitions →
our YAML, with a report per definition (docs/maestro.md). Exit 0 when every definition was
translated (with or without notes), 1 otherwise."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from maestro.cli.common import app, err
from maestro.compat.maestro_json import Report, is_maestro, translate

import_app = typer.Typer(help="Bring definitions from other orchestrators here.")
app.add_typer(import_app, name="import", no_args_is_help=True)


def _sources(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*.json") if p.is_file()))
        else:
            found.append(path)
    return found


def import_file(path: Path, out_dir: Path | None) -> Report:
    """Translate one file and write its YAML (unless not importable)."""
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        report = Report(source=str(path))
        report.refuse("$", f"cannot read the file as JSON: {exc}")
        return report
    if not is_maestro(data):
        report = Report(source=str(path))
        report.refuse("$", "not a Maestro definition (no top-level 'workflow' object)")
        return report
    definition, report = translate(data, str(path))
    if not report.reasons:
        target_dir = out_dir if out_dir is not None else path.parent
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / f"{path.stem}.yaml"
        header = f"# Imported from Maestro: {path.name} ({report.result})\n"
        notes = "".join(f"# note: {p}: {m}\n" for p, m in report.notes)
        body = yaml.safe_dump(definition, sort_keys=False, allow_unicode=True)
        target.write_text(header + notes + body, encoding="utf-8")
        report.output = str(target)
    return report


@import_app.command("maestro")
def import_maestro(
    sources: Annotated[list[Path], typer.Argument(help="Maestro JSON files or folders.")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Where to write the YAML (default: beside).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Translate Netflix Maestro JSON definitions into Maestro-for-Python YAML."""
    files = _sources(sources)
    reports = []
    for i, path in enumerate(files, 1):
        if len(files) > 1 and not as_json:
            err.print(f"[{i}/{len(files)}] {path}", highlight=False)
        reports.append(import_file(path, out))
    if as_json:
        print(json.dumps([r.as_json() for r in reports], indent=2))
    else:
        for report in reports:
            print(report.text())
        counts = {
            k: sum(r.result == k for r in reports)
            for k in ("translated", "translated with notes", "not importable")
        }
        print(", ".join(f"{n} {k}" for k, n in counts.items()))
    if not files or any(r.reasons for r in reports):
        raise typer.Exit(1)
