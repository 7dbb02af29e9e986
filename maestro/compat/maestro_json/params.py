"""Maestro params (``{type, value | expression, ...}``) → our params."""

from __future__ import annotations

from typing import Any

from maestro.compat.maestro_json.context import Ctx

#: Maestro's param types (case-insensitive) → ours
TYPES = {
    "STRING": "string",
    "LONG": "int",
    "DOUBLE": "float",
    "BOOLEAN": "bool",
    "STRING_ARRAY": "list",
    "LONG_ARRAY": "list",
    "DOUBLE_ARRAY": "list",
    "BOOLEAN_ARRAY": "list",
    "STRING_MAP": "map",
    "MAP": "map",
}
#: fields of a param definition that change nothing here (notes)
IGNORED = {"mode", "validator", "tags", "meta", "name", "internal_mode", "description"}


def param_type(ctx: Ctx, spec: dict[str, Any], path: str) -> str | None:
    raw = str(spec.get("type", "STRING")).upper()
    if raw not in TYPES:
        ctx.report.refuse(f"{path}.type", f"unknown Maestro param type {spec.get('type')!r}")
        return None
    return TYPES[raw]


def param_value(ctx: Ctx, spec: Any, path: str) -> Any:
    """The value or template of one Maestro param definition."""
    if not isinstance(spec, dict):
        ctx.report.refuse(path, "a param must be an object with 'type' and 'value' or 'expression'")
        return None
    for key in spec:
        if key in IGNORED:
            ctx.report.note(f"{path}.{key}", f"'{key}' is not enforced here (kept out)")
        elif key not in ("type", "value", "expression"):
            ctx.report.refuse(f"{path}.{key}", f"unknown param field {key!r}")
    if "expression" in spec:
        text = str(spec.get("type", "")).upper() == "STRING"
        return ctx.expr(str(spec["expression"]), f"{path}.expression", text)
    value = spec.get("value")
    if str(spec.get("type", "")).upper() == "MAP" and isinstance(value, dict):
        return {k: param_value(ctx, v, f"{path}.value.{k}") for k, v in value.items()}
    return ctx.text(value, f"{path}.value")


def run_params(ctx: Ctx, params: dict[str, Any], path: str) -> dict[str, Any]:
    """Workflow params → our run params (the value becomes the default)."""
    out: dict[str, Any] = {}
    for name, spec in params.items():
        p = f"{path}.{name}"
        kind = param_type(ctx, spec if isinstance(spec, dict) else {}, p)
        value = param_value(ctx, spec, p)
        out[name] = {"type": kind or "string", "default": value}
    return out


def step_params(ctx: Ctx, params: dict[str, Any], path: str) -> dict[str, Any]:
    """Step params → our typed step params ``{type, value}``."""
    out: dict[str, Any] = {}
    local = set(ctx.scope.local_params)
    for name, spec in params.items():
        p = f"{path}.{name}"
        inner = ctx.with_scope(local_params=local)
        kind = param_type(inner, spec if isinstance(spec, dict) else {}, p)
        out[name] = {"type": kind or "string", "value": param_value(inner, spec, p)}
        local.add(name)
    return out
