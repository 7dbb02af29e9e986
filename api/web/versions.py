"""A workflow version's definition as YAML, and the difference between two versions.

The store keeps each version's *normalized* definition (JSON, defaults merged) and, in
``source``, where it came from (``api``, a file's path) — not the text as typed. The page
shows the definition as YAML without the fields that equal their defaults (the definition
parsed again and dumped with ``exclude_defaults``), which reads close to what was written;
a definition that no longer parses (an older schema) is shown whole, nulls left out. The
same text on both sides makes the diff: ``difflib``'s grouped opcodes, drawn as one
unified table (line numbers of both versions, a marker and a word for each change).
"""

from __future__ import annotations

import difflib
import threading
from dataclasses import dataclass
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from api.web import session
from api.web.pages import WorkflowId, login_required, serve
from api.web.render import PAGE_METHODS, Page
from maestro import reads
from maestro.definition import parse_definition
from maestro.engine.core import Engine
from maestro.errors import DefinitionError

router = APIRouter(include_in_schema=False)

Version = Annotated[int, Path(ge=1, le=2**31 - 1)]
#: a side longer than this is not compared on the page (difflib is quadratic at worst)
MAX_DIFF_LINES = 20_000
#: lines of context around each change (the default); ``?context=`` picks 0 to MAX_CONTEXT,
#: which shows the whole definition
CONTEXT = 3
MAX_CONTEXT = MAX_DIFF_LINES


#: libyaml's dumper when PyYAML was built with it (several times faster), else Python's
Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
#: the YAML of recent versions by content hash (a version never changes; equal content
#: dumps to equal text), so that paging through versions and diffs parses each once
_TEXTS: dict[str, str] = {}
_TEXTS_LOCK = threading.Lock()
CACHED_TEXTS = 64


def version_yaml(version: reads.VersionDetail) -> str:
    """``definition_yaml`` of a stored version, cached by its content hash."""
    text = _TEXTS.get(version.content_hash)
    if text is None:
        text = definition_yaml(version.definition)
        with _TEXTS_LOCK:  # pages render in the threadpool
            while len(_TEXTS) >= CACHED_TEXTS:
                del _TEXTS[next(iter(_TEXTS))]  # the oldest
            _TEXTS[version.content_hash] = text
    return text


def definition_yaml(definition: dict[str, Any]) -> str:
    """The definition as YAML, fields equal to their defaults left out when it still parses."""
    try:
        compact = parse_definition(definition).model_dump(
            mode="json", by_alias=True, exclude_defaults=True
        )
    except (DefinitionError, ValueError, TypeError):
        compact = _without_nulls(definition)
    text: str = yaml.dump(
        compact,
        Dumper=Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )
    return text


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


# -- the diff ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """A row of the diff: ``kind`` is ``same``, ``removed`` or ``added``; a line number of the
    old (``old``) and of the new (``new``) side, None where the line is not on that side."""

    kind: str
    old: int | None
    new: int | None
    text: str


@dataclass(frozen=True)
class Hunk:
    """A group of changes with their context, and where it lies on both sides (1-based)."""

    old_start: int
    old_end: int
    new_start: int
    new_end: int
    lines: tuple[Line, ...]


def diff(old: str, new: str, context: int = CONTEXT) -> list[Hunk]:
    """The hunks that turn ``old`` into ``new`` (empty when they are equal)."""
    a, b = old.splitlines(), new.splitlines()
    hunks = []
    # autojunk (difflib's default): beyond 200 lines, lines found in more than 1% of them
    # ("type: shell") anchor no match; without it 1,800 lines took 0.9 s instead of 20 ms
    matcher = difflib.SequenceMatcher(None, a, b)
    for group in matcher.get_grouped_opcodes(context):
        lines: list[Line] = []
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines += [Line("same", i + 1, j1 + i - i1 + 1, a[i]) for i in range(i1, i2)]
                continue
            lines += [Line("removed", i + 1, None, a[i]) for i in range(i1, i2)]
            lines += [Line("added", None, j + 1, b[j]) for j in range(j1, j2)]
        first, last = group[0], group[-1]
        hunks.append(Hunk(first[1] + 1, last[2], first[3] + 1, last[4], tuple(lines)))
    return hunks


# -- pages ---------------------------------------------------------------------------------------


@router.api_route("/workflows/{workflow_id}/versions/{version}", methods=PAGE_METHODS)
def version_page(request: Request, workflow_id: WorkflowId, version: Version) -> Response:
    """One version: when and by whom it was submitted, from where, and its definition."""
    return serve(request, lambda who, engine: _version(engine, workflow_id, version))


def _version(engine: Engine, workflow_id: str, version: int) -> Page:
    with engine.db.read() as conn:
        detail = reads.version_detail(conn, workflow_id, version)
        latest = reads.list_versions(conn, workflow_id, limit=1).items[0].version
    text = version_yaml(detail)
    context = {
        "v": detail,
        "latest": latest,
        "lines": text.splitlines(),
        "refresh": False,  # a version never changes
    }
    return Page("version", f"v{version} of {workflow_id}", context)


@router.api_route("/workflows/{workflow_id}/versions/{version}/diff", methods=PAGE_METHODS)
def diff_form(
    request: Request,
    workflow_id: WorkflowId,
    version: Version,
    against: Annotated[int, Query(ge=1, le=2**31 - 1)],
) -> Response:
    """The version page's "compare with" form (``?against=N``): to the diff's address, the
    older version first."""
    if session.visitor(request) is None:
        return login_required(request)
    old, new = sorted((against, version))
    return RedirectResponse(f"/workflows/{workflow_id}/versions/{old}/diff/{new}", status_code=303)


@router.api_route("/workflows/{workflow_id}/versions/{old}/diff/{new}", methods=PAGE_METHODS)
def diff_page(
    request: Request,
    workflow_id: WorkflowId,
    old: Version,
    new: Version,
    context: Annotated[int, Query(ge=0, le=MAX_CONTEXT)] = CONTEXT,
) -> Response:
    """What changed from version ``old`` to version ``new``, as a unified table."""
    return serve(request, lambda who, engine: _diff(engine, workflow_id, old, new, context))


def _diff(engine: Engine, workflow_id: str, old: int, new: int, context: int) -> Page:
    with engine.db.read() as conn:
        before = reads.version_detail(conn, workflow_id, old)
        after = reads.version_detail(conn, workflow_id, new)
    a, b = version_yaml(before), version_yaml(after)
    too_big = max(a.count("\n"), b.count("\n")) > MAX_DIFF_LINES
    hunks = [] if too_big else diff(a, b, context)
    values = {
        "old": before,
        "new": after,
        "hunks": hunks,
        "too_big": too_big,
        "same": a == b,
        "context": context,
        "default_context": CONTEXT,
        "whole": MAX_CONTEXT,
        "added": sum(1 for h in hunks for line in h.lines if line.kind == "added"),
        "removed": sum(1 for h in hunks for line in h.lines if line.kind == "removed"),
        "refresh": False,
    }
    return Page("version_diff", f"v{old} → v{new} of {workflow_id}", values)
