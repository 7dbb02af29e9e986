"""Maestro time triggers → cron triggers (Quartz forms converted where exact)."""

from __future__ import annotations

from typing import Any

from maestro.compat.maestro_json.context import Ctx

PREDEFINED = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def quartz_to_cron(expr: str) -> str | None:
    """A 5-field cron, or a Quartz 6/7-field one converted when exact (seconds 0, no year)."""
    fields = expr.split()
    if len(fields) == 5:
        return expr
    if len(fields) not in (6, 7):
        return None
    sec, minute, hour, dom, month, dow = fields[:6]
    if sec != "0" or (len(fields) == 7 and fields[6] not in ("*", "?")):
        return None
    if dom == "?":
        dom = "*"
    if dow == "?":
        dow = "*"
    if any(c in f for f in (dom, dow) for c in "LW#"):
        return None
    fields5 = []
    for f in (minute, hour, dom, month, dow):
        if "/" in f:  # "1/1" (Quartz: from 1 every 1) → "1-<max>/1" is not exact; "*/n" is
            start, _, step = f.partition("/")
            if start not in ("*", "0", "1") or not step.isdigit():
                return None
            if start == "1" and f in (dom,):
                f = "*" if step == "1" else f"*/{step}"
            elif start in ("0", "*"):
                f = f"*/{step}"
            else:
                return None
        fields5.append(f)
    return " ".join(fields5)


def time_triggers(ctx: Ctx, triggers: Any, path: str) -> list[dict[str, Any]]:
    out = []
    for i, trig in enumerate(triggers or []):
        p = f"{path}[{i}]"
        kind = str(trig.get("type", "CRON")).upper()
        if kind == "PREDEFINED":
            cron = PREDEFINED.get(str(trig.get("expression")))
            if cron is None:
                ctx.report.refuse(
                    f"{p}.expression", f"unknown predefined time trigger {trig.get('expression')!r}"
                )
                continue
        elif kind == "CRON":
            cron = quartz_to_cron(str(trig.get("cron", "")))
            if cron is None:
                ctx.report.refuse(
                    f"{p}.cron", f"the cron {trig.get('cron')!r} has no exact 5-field equivalent"
                )
                continue
        else:
            ctx.report.refuse(f"{p}.type", f"unknown time trigger type {trig.get('type')!r}")
            continue
        out.append({"cron": cron, "timezone": trig.get("timezone", "UTC")})
        for key in trig:
            if key == "fuzzy_max_delay":
                ctx.report.note(f"{p}.{key}", "a fuzzy start delay is not applied here")
            elif key not in ("type", "cron", "expression", "timezone"):
                ctx.report.refuse(f"{p}.{key}", f"unknown time trigger field {key!r}")
    return out
