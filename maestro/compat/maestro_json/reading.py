"""Recognise and translate one Maestro JSON definition."""

from __future__ import annotations

from typing import Any

from maestro.compat.maestro_json import sel
from maestro.compat.maestro_json.context import Ctx
from maestro.compat.maestro_json.params import run_params
from maestro.compat.maestro_json.report import Report
from maestro.compat.maestro_json.run_strategy import properties
from maestro.compat.maestro_json.signals import signal_triggers
from maestro.compat.maestro_json.steps import translate_steps
from maestro.compat.maestro_json.triggers import time_triggers

NOTED = {"name", "description"}


def is_maestro(data: Any) -> bool:
    """A Maestro definition has a top-level ``workflow`` object (ours never does)."""
    return isinstance(data, dict) and isinstance(data.get("workflow"), dict)


def _tag(tag: Any) -> str:
    return str(tag.get("name")) if isinstance(tag, dict) else str(tag)


def translate(data: dict[str, Any], source: str = "") -> tuple[dict[str, Any], Report]:
    """Our definition (a dict ready to dump as YAML) and the report of the translation."""
    report = Report(source=source)
    wf = data["workflow"]
    report.workflow_id = wf.get("id")
    out: dict[str, Any] = {"id": wf.get("id")}
    for key in ("name", "description"):
        if key in wf:
            out[key] = wf[key]
    ctx = Ctx(report, sel.Scope(run_params=set((wf.get("params") or {}).keys())))
    properties(ctx, data.get("properties") or {}, out, "properties")
    if "owner" not in out:
        out["owner"] = "maestro-import"
        report.note("properties.owner", "no owner: 'maestro-import' was used")
    for key in data:
        if key not in ("workflow", "properties"):
            report.note(key, f"'{key}' is not imported (ignored)")
    if wf.get("params"):
        out["params"] = run_params(ctx, wf["params"], "workflow.params")
    if wf.get("tags"):
        out["tags"] = [_tag(t) for t in wf["tags"]]
    if "timeout" in wf:
        _timeout(ctx, wf["timeout"], out)
    triggers = time_triggers(ctx, wf.get("time_triggers"), "workflow.time_triggers")
    triggers += signal_triggers(ctx, wf.get("signal_triggers"), "workflow.signal_triggers")
    if triggers:
        out["triggers"] = triggers
    out["steps"] = translate_steps(ctx, wf.get("steps"), "workflow.steps")
    known = {
        "id",
        "name",
        "description",
        "params",
        "tags",
        "timeout",
        "time_triggers",
        "signal_triggers",
        "steps",
    }
    for key in wf:
        if key not in known:
            report.note(f"workflow.{key}", f"'{key}' has no equivalent here (ignored)")
    report.note(
        "workflow",
        "steps without retry_policy get Maestro's defaults (2 retries, fixed 60 s backoff)",
    )
    return out, report


def _timeout(ctx: Any, t: Any, out: dict[str, Any]) -> None:
    if isinstance(t, str) and "$" in t:  # our workflow timeout is no template
        ctx.report.refuse(
            "workflow.timeout", f"{t!r}: a templated workflow timeout is not supported here"
        )
    else:
        out["timeout"] = f"{t}s" if isinstance(t, int) else t
