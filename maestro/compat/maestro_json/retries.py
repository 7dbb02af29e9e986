"""Maestro ``retry_policy`` and ``failure_mode`` → our ``retries`` and ``on_failure``."""

from __future__ import annotations

from typing import Any

from maestro.compat.maestro_json.context import Ctx

#: Maestro's defaults (Defaults.java): 2 error retries, fixed backoff of 60 s
DEFAULT_RETRIES = {"limit": 2, "backoff": "fixed", "delay": "60s"}

FAILURE_MODES = {
    "FAIL_IMMEDIATELY": "fail_run",
    "FAIL_AFTER_RUNNING": "finish_running",
    "IGNORE_FAILURE": "ignore",
}


def _number(ctx: Ctx, value: Any, path: str) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    ctx.report.refuse(
        path,
        f"{value!r}: a templated retry setting is not supported here "
        "(our retries are fixed numbers)",
    )
    return None


def retries(ctx: Ctx, policy: dict[str, Any] | None, path: str) -> dict[str, Any]:
    if policy is None:
        return dict(DEFAULT_RETRIES)
    out: dict[str, Any] = {"limit": 2, "backoff": "fixed", "delay": "60s"}
    for key, value in policy.items():
        p = f"{path}.{key}"
        if key == "error_retry_limit":
            out["limit"] = _number(ctx, value, p)
        elif key in ("platform_retry_limit", "timeout_retry_limit"):
            ctx.report.note(
                p,
                "platform and timeout retries are not told apart here: every "
                "failure counts against error_retry_limit",
            )
        elif key == "backoff" and isinstance(value, dict):
            kind = str(value.get("type", "FIXED_BACKOFF")).upper()
            out["backoff"] = "exponential" if kind == "EXPONENTIAL_BACKOFF" else "fixed"
            for bkey, bval in value.items():
                bp = f"{p}.{bkey}"
                if bkey == "error_retry_backoff_in_secs":
                    n = _number(ctx, bval, bp)
                    out["delay"] = f"{n}s"
                elif bkey == "error_retry_limit_in_secs":
                    n = _number(ctx, bval, bp)
                    out["max_delay"] = f"{n}s"
                elif bkey == "type":
                    continue
                else:
                    ctx.report.note(bp, f"'{bkey}' has no equivalent here (ignored)")
        else:
            ctx.report.refuse(p, f"unknown retry_policy field {key!r}")
    return out


def on_failure(ctx: Ctx, mode: Any, path: str) -> str | None:
    key = str(mode).upper()
    if key not in FAILURE_MODES:
        ctx.report.refuse(path, f"unknown failure_mode {mode!r}")
        return None
    return FAILURE_MODES[key]
