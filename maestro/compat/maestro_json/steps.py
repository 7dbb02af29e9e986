"""Maestro steps (``{"step"|"foreach"|"while"|"subworkflow": {...}}``) → our steps.

Transitions become ``depends_on`` entries on the successor (conditional ones unless the
condition is ``true``), so the whole list is translated before edges are added.
"""

from __future__ import annotations

from typing import Any

from maestro.compat.maestro_json import signals
from maestro.compat.maestro_json.context import Ctx
from maestro.compat.maestro_json.params import param_value, step_params
from maestro.compat.maestro_json.retries import on_failure, retries

CONTAINER = {"KUBERNETES", "TITUS"}
COMMON = {
    "id",
    "name",
    "description",
    "type",
    "transition",
    "params",
    "retry_policy",
    "failure_mode",
    "timeout",
    "tags",
    "signal_dependencies",
    "signal_outputs",
    "steps",
    "sync",
    "explicit_params",
    "condition",
    "concurrency",
    "strict_ordering",
    "sub_type",
}


def translate_steps(ctx: Ctx, raw: Any, path: str) -> list[dict[str, Any]]:  # noqa: C901
    if not isinstance(raw, list) or not raw:
        ctx.report.refuse(path, "a workflow needs a non-empty list of steps")
        return []
    ids = set()
    for wrapper in raw:
        if isinstance(wrapper, dict) and len(wrapper) == 1:
            body = next(iter(wrapper.values()))
            if isinstance(body, dict) and "id" in body:
                ids.add(str(body["id"]))
    inner = ctx.with_scope(step_ids=set(ctx.scope.step_ids) | ids)
    out: list[dict[str, Any]] = []
    edges: dict[str, list[Any]] = {}
    conditional: set[str] = set()
    for i, wrapper in enumerate(raw):
        p = f"{path}[{i}]"
        if not isinstance(wrapper, dict) or len(wrapper) != 1:
            ctx.report.refuse(
                p, "a step must be an object with one key: step, foreach, while or subworkflow"
            )
            continue
        kind, body = next(iter(wrapper.items()))
        p = f"{p}.{kind}"
        step = _step(inner, kind, body, p)
        if step is None:
            continue
        out.append(step)
        successors = (body.get("transition") or {}).get("successors") or {}
        for succ, cond in successors.items():
            sp = f"{p}.transition.successors.{succ}"
            if succ not in ids:
                ctx.report.refuse(sp, f"unknown successor step {succ!r}")
                continue
            text = str(cond).strip()
            if text.lower() in ("true", "true;", "return true;"):
                edges.setdefault(succ, []).append(step["id"])
                continue
            # the condition sees the upstream step's params as bare names (our edge scope)
            local = set((body.get("params") or {}).keys()) | set(inner.scope.loop_vars)
            bare = inner.with_scope(loop_vars=local).bare(text, sp)
            if bare is not None:
                edges.setdefault(succ, []).append({"step": step["id"], "if": bare})
                conditional.add(succ)
    for step in out:
        if step["id"] in edges:
            step["depends_on"] = edges[step["id"]]
        if step["id"] in conditional:
            step["trigger_rule"] = "any_taken"
    return out


def _step(ctx: Ctx, kind: str, body: Any, p: str) -> dict[str, Any] | None:
    if not isinstance(body, dict) or "id" not in body:
        ctx.report.refuse(p, "a step needs an 'id'")
        return None
    params = dict(body.get("params") or {})
    # a step's param expressions see the step's own params as bare names
    ctx = ctx.with_scope(local_params=set(params) - {"loop_params"})
    step = _named(ctx, body, p)
    kind_l = kind.lower()
    if kind_l == "step":
        if not _typed(ctx, step, body, params, p):
            return None
    elif kind_l == "subworkflow":
        _subworkflow(ctx, step, body, params, p)
        params = {}  # all passed to the child
    elif kind_l in ("foreach", "while"):
        _loop(ctx, step, body, params, p, kind_l)
    else:
        ctx.report.refuse(p, f"unknown step kind {kind!r}")
        return None
    if params:
        step["params"] = step_params(ctx, params, f"{p}.params")
    _scheduling(ctx, step, body, p)
    return step


def _named(ctx: Ctx, body: dict[str, Any], p: str) -> dict[str, Any]:
    """The step's id and names; its unknown fields and what is not kept, reported."""
    step: dict[str, Any] = {"id": str(body["id"])}
    for key in ("name", "description"):
        if key in body:
            step[key] = body[key]
    for key in body:
        if key not in COMMON:
            ctx.report.refuse(f"{p}.{key}", f"unknown step field {key!r}")
    if "explicit_params" in body:
        ctx.report.note(
            f"{p}.explicit_params",
            "the subworkflow gets exactly the params given here (its own defaults otherwise)",
        )
    if body.get("sub_type"):
        ctx.report.refuse(f"{p}.sub_type", "job templates need a container runtime")
    return step


def _scheduling(ctx: Ctx, step: dict[str, Any], body: dict[str, Any], p: str) -> None:
    """Retries, failure mode, timeout, tags and signals of any kind of step."""
    step["retries"] = retries(ctx, body.get("retry_policy"), f"{p}.retry_policy")
    if "failure_mode" in body:
        mode = on_failure(ctx, body["failure_mode"], f"{p}.failure_mode")
        if mode:
            step["on_failure"] = mode
    if "timeout" in body:  # a template (``${t}``) renders when the attempt starts
        timeout = body["timeout"]
        step["timeout"] = (
            f"{timeout}s" if isinstance(timeout, int) else ctx.text(timeout, f"{p}.timeout")
        )
    if body.get("tags"):
        ctx.report.note(f"{p}.tags", "step tags are not kept here")
    if body.get("signal_dependencies"):
        step["wait_for"] = signals.wait_for(
            ctx, body["signal_dependencies"], f"{p}.signal_dependencies"
        )
    if body.get("signal_outputs"):
        step["emit"] = signals.emit(ctx, body["signal_outputs"], f"{p}.signal_outputs")


def _notebook(ctx: Any, step: dict[str, Any], nb: Any, path: str) -> None:
    """``params.notebook`` → ``notebook.path``; every other key is reported, never dropped."""
    value = param_value(ctx, nb, path) if nb is not None else None
    if not isinstance(value, dict) or not value.get("input_path"):
        ctx.report.refuse(path, "a Notebook step needs params.notebook with an input_path")
        return
    step["notebook"] = {"path": value["input_path"]}
    for key in sorted(set(value) - {"input_path"}):
        ctx.report.note(
            f"{path}.{key}",
            f"not translated: {key!r} has no equivalent here (papermill runs input_path; "
            "parameters go under notebook.parameters)",
        )


#: Maestro's default ``state_expr``: 2xx is success (4xx fatal, the rest a user error)
_HTTP_OK = list(range(200, 300))
_HTTP_KEYS = {"url", "method", "headers", "body"}


def _http(ctx: Any, step: dict[str, Any], params: dict[str, Any], path: str) -> None:
    """``params.http`` (url, method, headers, body) → our http settings; success is a 2xx
    status, Maestro's default ``state_expr``. A ``state_expr`` of the definition's own (an SEL
    script deciding the state) is not importable. ``status_code`` / ``response_body`` are
    Maestro's outputs (ours: ``status``, ``body``)."""
    http = params.pop("http", None)
    value = param_value(ctx, http, f"{path}.http") if http is not None else None
    if not isinstance(value, dict) or not value.get("url"):
        ctx.report.refuse(f"{path}.http", "an Http step needs params.http with a url")
        return
    for key in sorted(set(value) - _HTTP_KEYS):
        ctx.report.refuse(f"{path}.http.{key}", f"unknown Http request field {key!r}")
    settings: dict[str, Any] = {"method": str(value.get("method") or "GET"), "url": value["url"]}
    headers = value.get("headers")
    settings["headers"] = (
        dict(headers)
        if isinstance(headers, dict)
        else {
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
    )
    if value.get("body") is not None:
        settings["body"] = value["body"]
    settings["expect_status"] = _HTTP_OK
    step["http"] = settings
    if "state_expr" in params:
        params.pop("state_expr")
        ctx.report.refuse(
            f"{path}.state_expr",
            "a custom state_expr (an SEL script deciding the step's state from the response) "
            "has no equivalent: our http step succeeds on expect_status (2xx here)",
        )
    for name in ("status_code", "response_body"):
        if name in params:
            params.pop(name)
            ctx.report.note(
                f"{path}.{name}",
                f"Maestro's output {name!r} is ours "
                f"{'status' if name == 'status_code' else 'body'} (outputs)",
            )


def _typed(
    ctx: Ctx, step: dict[str, Any], body: dict[str, Any], params: dict[str, Any], p: str
) -> bool:
    """A ``step`` of a Maestro type; False when it is not importable."""
    typ = str(body.get("type", "")).upper()
    if typ == "NOOP":
        step["type"] = "noop"
    elif typ == "JOIN":
        step["type"] = "noop"
        step["trigger_rule"] = "any_taken"
    elif typ == "SLEEP":
        step["type"] = "sleep"
        # sleep_seconds stays a step param too (Maestro's steps and conditions read it)
        secs = params.get("sleep_seconds")
        if secs is None:
            ctx.report.refuse(f"{p}.params", "a Sleep step needs params.sleep_seconds")
        else:
            value = param_value(ctx, secs, f"{p}.params.sleep_seconds")
            literal = isinstance(value, int) and not isinstance(value, bool)
            step["sleep"] = {"duration": f"{value}s" if literal else "{{ params.sleep_seconds }}"}
    elif typ == "HTTP":
        step["type"] = "http"
        _http(ctx, step, params, f"{p}.params")
    elif typ == "NOTEBOOK":
        if "kubernetes" in params:
            ctx.report.refuse(
                f"{p}.params.kubernetes",
                "a notebook in a Kubernetes container needs a container runtime",
            )
        nb = params.pop("notebook", None)
        params.pop("kubernetes", None)
        step["type"] = "notebook"
        _notebook(ctx, step, nb, f"{p}.params.notebook")
    elif typ in CONTAINER or typ == "KUBERNETES":
        ctx.report.refuse(f"{p}.type", f"{body.get('type')} steps need a container runtime")
        return False
    else:
        ctx.report.refuse(f"{p}.type", f"step type {body.get('type')!r} is not importable")
        return False
    return True


def _subworkflow(
    ctx: Ctx, step: dict[str, Any], body: dict[str, Any], params: dict[str, Any], p: str
) -> None:
    """A ``subworkflow``: every param but the id and version is passed to the child."""
    step["type"] = "subworkflow"
    wid = params.pop("subworkflow_id", None)
    ver = params.pop("subworkflow_version", None)
    settings: dict[str, Any] = {
        "workflow": param_value(ctx, wid, f"{p}.params.subworkflow_id") if wid else None,
        "wait": bool(body.get("sync", True)),
        # Maestro passes params the child does not declare as run params of the child
        "pass_undeclared": True,
    }
    if ver is not None:
        v = param_value(ctx, ver, f"{p}.params.subworkflow_version")
        settings["version"] = {"default": "active", "active": "active"}.get(str(v), v)
    if not settings["workflow"]:
        ctx.report.refuse(f"{p}.params", "a subworkflow needs params.subworkflow_id")
    settings["params"] = {k: param_value(ctx, v, f"{p}.params.{k}") for k, v in params.items()}
    params = {}
    step["subworkflow"] = settings


def _loop(
    ctx: Ctx, step: dict[str, Any], body: dict[str, Any], params: dict[str, Any], p: str, kind: str
) -> None:
    """A ``foreach`` (its loop_params → ``matrix``) or a ``while``."""
    loop = params.pop("loop_params", None)
    lp = f"{p}.params.loop_params"
    loop_vars = dict((loop or {}).get("value") or {}) if isinstance(loop, dict) else {}
    names = set(loop_vars)
    values = {k: param_value(ctx, v, f"{lp}.value.{k}") for k, v in loop_vars.items()}
    body_ctx = ctx.with_scope(loop_vars=set(ctx.scope.loop_vars) | names, step_ids=set())
    inner_steps = translate_steps(body_ctx, body.get("steps"), f"{p}.steps")
    if kind == "foreach":
        step["type"] = "foreach"
        settings = {"matrix": values, "steps": inner_steps}
        if "concurrency" in body:
            settings["concurrency"] = body["concurrency"]
        if "strict_ordering" in body:
            settings["strict_ordering"] = body["strict_ordering"]
        step["foreach"] = settings
    else:
        step["type"] = "while"
        cond = body_ctx.bare(str(body.get("condition", "")), f"{p}.condition")
        update = {}
        for inner in body.get("steps") or []:
            spec = next(iter(inner.values())) if isinstance(inner, dict) and inner else {}
            for name in spec.get("params") or {}:
                if name in names:
                    update[name] = "{{ steps['" + str(spec["id"]) + "'].params." + name + " }}"
        step["while"] = {
            "condition": cond,
            "loop": values,
            "update": update,
            "steps": inner_steps,
        }
        ctx.report.note(
            p,
            "the loop variables are updated from the body steps' params of "
            "the same name (Maestro's while semantics)",
        )
