"""Maestro properties (owner, run_strategy, step concurrency) → ours."""

from __future__ import annotations

from typing import Any

from maestro.compat.maestro_json.context import Ctx

KINDS = {
    "SEQUENTIAL": "sequential",
    "STRICT_SEQUENTIAL": "strict_sequential",
    "FIRST_ONLY": "first_only",
    "LAST_ONLY": "last_only",
    "PARALLEL": "parallel",
}


def run_strategy(ctx: Ctx, raw: Any, path: str) -> Any:
    if isinstance(raw, str):
        rule, conc = raw, None
    else:
        rule, conc = raw.get("rule", "SEQUENTIAL"), raw.get("workflow_concurrency")
    kind = KINDS.get(str(rule).upper())
    if kind is None:
        ctx.report.refuse(path, f"unknown run strategy {rule!r}")
        return None
    if kind == "parallel":
        return {"kind": kind, "max_concurrency": conc or 20}
    if conc not in (None, 1):
        ctx.report.note(f"{path}.workflow_concurrency", f"ignored for {kind} (one at a time)")
    return kind


def properties(ctx: Ctx, props: dict[str, Any], out: dict[str, Any], path: str) -> None:
    for key, value in props.items():
        p = f"{path}.{key}"
        if key == "owner":
            out["owner"] = value
        elif key == "run_strategy":
            strategy = run_strategy(ctx, value, p)
            if strategy is not None:
                out["run_strategy"] = strategy
        elif key in ("step_concurrency", "instance_step_concurrency"):
            out["max_active_steps"] = min(int(value), out.get("max_active_steps", 1000))
            if key == "instance_step_concurrency":
                ctx.report.note(p, "applied per run (not across nested runs)")
        else:
            ctx.report.note(p, f"'{key}' has no equivalent here (ignored)")
