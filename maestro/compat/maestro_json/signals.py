"""Maestro signal dependencies, outputs and signal triggers → ``wait_for``, ``emit`` and
signal triggers with operator maps."""

from __future__ import annotations

from typing import Any

from maestro.compat.maestro_json.context import Ctx
from maestro.compat.maestro_json.params import param_value

OPERATORS = {"=", "!=", ">", ">=", "<", "<="}


def _match(ctx: Ctx, params: Any, path: str, nested: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, spec in (params or {}).items():
        p = f"{path}.{key}"
        if key.startswith("_"):
            ctx.report.note(p, f"Maestro's internal match key {key!r} is not kept")
            continue
        op = str(spec.get("operator", "=")) if isinstance(spec, dict) else "="
        if op == "==":
            op = "="
        if op not in OPERATORS:
            ctx.report.refuse(f"{p}.operator", f"unknown signal operator {op!r}")
            continue
        value = (
            param_value(ctx, spec.get("param"), f"{p}.param")
            if nested
            else ctx.text(spec.get("value"), f"{p}.value")
        )
        out[key] = value if op == "=" else {op: value}
    return out


def wait_for(ctx: Ctx, deps: Any, path: str) -> list[dict[str, Any]]:
    if isinstance(deps, dict):
        deps = deps.get("definitions", [])
    out = []
    for i, dep in enumerate(deps or []):
        p = f"{path}[{i}]"
        out.append(
            {
                "signal": dep.get("name"),
                "match": _match(ctx, dep.get("match_params"), f"{p}.match_params", True),
            }
        )
    return out


def emit(ctx: Ctx, outputs: Any, path: str) -> list[dict[str, Any]]:
    out = []
    for i, sig in enumerate(outputs or []):
        p = f"{path}[{i}]"
        payload = {
            k: param_value(ctx, v, f"{p}.params.{k}") for k, v in (sig.get("params") or {}).items()
        }
        out.append({"signal": sig.get("name"), "payload": payload})
    return out


def signal_triggers(ctx: Ctx, triggers: Any, path: str) -> list[dict[str, Any]]:
    out = []
    for i, trig in enumerate(triggers or []):
        p = f"{path}[{i}]"
        defs = trig.get("definitions") or {}
        if len(defs) > 1:
            ctx.report.refuse(
                f"{p}.definitions",
                "a trigger joining several signals (join_keys) has no equivalent here",
            )
            continue
        for name, spec in defs.items():
            dp = f"{p}.definitions.{name}"
            if spec.get("join_keys"):
                ctx.report.note(
                    f"{dp}.join_keys", "join keys matter only when joining signals (ignored)"
                )
            out.append(
                {
                    "signal": name,
                    "match": _match(ctx, spec.get("match_params"), f"{dp}.match_params", False),
                }
            )
        for key in trig:
            if key not in ("definitions",):
                ctx.report.note(f"{p}.{key}", f"'{key}' has no equivalent here (ignored)")
    return out
