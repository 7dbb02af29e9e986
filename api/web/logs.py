"""An attempt's log in the web view: the step page's viewer and the log's endpoints.

Nothing here reads a whole log: the page shows its tail (``TAIL`` bytes, cut at a line
start), **Load earlier** asks for ``CHUNK`` bytes before the first line shown, the follow
poll for the complete lines after the last one, and the download streams the file in
``CHUNK``-sized reads. Line numbers are counted from the start of the file once per page
view, in ``CHUNK``-sized reads (a 50 MB log: about 50 reads, no more memory than one), and
carried by the page afterwards. Which lines came from stderr and when each arrived come from
the log's index (``maestro/logindex.py``).

Endpoints (all behind the page session, as the pages):

- ``…/attempts/{n}/log``: the raw bytes. ``?offset=&limit=`` as the API's log endpoint
  (``X-Next-Offset``, ``X-Attempt-Status``, ``X-Log-Size``); a ``Range: bytes=…`` header
  (one range) is answered ``206`` with ``Content-Range``, streamed, or ``416`` when it cannot
  be served.
- ``…/attempts/{n}/log/download``: the whole file as an attachment, streamed.
- ``…/attempts/{n}/log/count?q=TEXT&end=OFFSET``: how often TEXT occurs before OFFSET (the
  search's "N more earlier"), as plain text.
- ``…/attempts/{n}/log/lines?after=OFFSET&line=N`` (follow) or ``?before=OFFSET&line=N``
  (load earlier): the lines as HTML list items (autoescaped, the same template as the page)
  with ``X-Start``, ``X-End``, ``X-First-Line``, ``X-Next-Line``, ``X-Attempt-Status``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response, StreamingResponse

from api.web import session
from api.web.render import PAGE_METHODS, SECURITY_HEADERS, environment, status_of
from api.web.status import is_terminal
from maestro import logindex, reads
from maestro.definition.models import STEP_ID_PATTERN
from maestro.engine.core import Engine
from maestro.errors import MaestroError
from maestro.logindex import STDERR, Mark

router = APIRouter(include_in_schema=False)

RunId = Annotated[int, Path(ge=1, le=2**63 - 1)]
StepId = Annotated[str, Path(pattern=STEP_ID_PATTERN)]
Attempt = Annotated[int, Path(ge=1, le=2**31 - 1)]
Offset = Annotated[int, Query(ge=0, le=2**62)]
LineNo = Annotated[int, Query(ge=1, le=2**62)]

#: the end of a log the page shows at first
TAIL = 256 * 1024
#: the most lines one window holds (a browser handles a few thousand list items at ease)
MAX_LINES = 3000
#: the most bytes one read of a file takes (counting lines, streaming)
CHUNK = 1024 * 1024
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


@dataclass
class Segment:
    text: str
    err: bool


@dataclass
class Line:
    number: int
    offset: int
    segments: list[Segment] = field(default_factory=list)
    #: arrival time shown on the line ("" when it is the previous line's, or unknown)
    time: str = ""
    stamp: str = ""

    @property
    def err(self) -> bool:
        return any(s.err for s in self.segments)


@dataclass
class Window:
    """Lines ``[start, end)`` of a log, the first numbered ``first_line``."""

    start: int
    end: int
    first_line: int
    lines: list[Line]
    size: int

    @property
    def next_line(self) -> int:
        return self.first_line + len(self.lines)


# -- reading -----------------------------------------------------------------------------------


def log_size(path: str | None) -> int:
    try:
        return FsPath(path).stat().st_size if path else 0
    except FileNotFoundError:
        return 0


def read_range(path: str | None, start: int, end: int) -> bytes:
    if not path or end <= start:
        return b""
    try:
        with FsPath(path).open("rb") as log:
            log.seek(start)
            return log.read(end - start)
    except FileNotFoundError:
        return b""


def count_lines(path: str, end: int) -> int:
    """Newlines in bytes ``[0, end)``, read ``CHUNK`` at a time."""
    count = 0
    with FsPath(path).open("rb") as log:
        left = end
        while left > 0 and (block := log.read(min(CHUNK, left))):
            count += block.count(b"\n")
            left -= len(block)
    return count


def count_matches(path: str | None, needle: str, end: int) -> int:
    """How often ``needle`` occurs in bytes ``[0, end)``, ignoring the case of ASCII letters,
    read ``CHUNK`` at a time (what the page's search cannot see before its first line)."""
    wanted = needle.encode().lower()
    if not path or not wanted:
        return 0
    keep = len(wanted) - 1  # a match cut by a chunk's end is found with the next chunk
    count, carry = 0, b""
    try:
        log = FsPath(path).open("rb")  # noqa: SIM115  # closed by the with below
    except FileNotFoundError:
        return 0
    with log:
        left = end
        while left > 0 and (block := log.read(min(CHUNK, left))):
            left -= len(block)
            data = carry + block.lower()
            count += data.count(wanted)
            carry = data[-keep:] if keep else b""
    return count


def _stamp(mark: Mark | None) -> str:
    if mark is None:
        return ""
    return datetime.fromtimestamp(mark.time, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def split_lines(path: str, data: bytes, start: int, first_line: int) -> list[Line]:
    """``data`` (the log's bytes from ``start``) as numbered lines, each cut where the stream
    changes, with the arrival time of the line where it differs from the line before."""
    marks = logindex.marks(path, start, start + len(data))
    lines: list[Line] = []
    at, number, m, shown = 0, first_line, 0, ""
    while at < len(data):
        stop = data.find(b"\n", at)
        stop = len(data) if stop < 0 else stop + 1
        line = Line(number, start + at)
        while m + 1 < len(marks) and marks[m + 1].offset <= start + at:
            m += 1
        here = marks[m] if marks and marks[m].offset <= start + at else None
        line.stamp = _stamp(here)
        if line.stamp[11:19] != shown:
            line.time = shown = line.stamp[11:19]
        piece = at
        while piece < stop:
            err = here is not None and here.stream == STDERR
            cut = stop
            if m + 1 < len(marks) and marks[m + 1].offset < start + stop:
                cut = marks[m + 1].offset - start
                m += 1
                here = marks[m]
            text = data[piece:cut].rstrip(b"\n").decode("utf-8", "replace")
            if text or not line.segments:
                line.segments.append(Segment(text, err))
            piece = cut
        lines.append(line)
        at, number = stop, number + 1
    return lines


def tail_window(path: str | None, running: bool) -> Window:
    """The last ``TAIL`` bytes, from a line's start (unless one line is longer)."""
    size = log_size(path)
    if not path or size == 0:
        return Window(0, 0, 1, [], size)
    start = max(0, size - TAIL)
    data = read_range(path, start, size)
    if start > 0:
        newline = data.find(b"\n")
        if 0 <= newline < len(data) - 1:
            data, start = data[newline + 1 :], start + newline + 1
    data, start = _keep_last_lines(_complete(data, running), start)
    first = 1 + count_lines(path, start)
    return Window(start, start + len(data), first, split_lines(path, data, start, first), size)


def _keep_last_lines(data: bytes, start: int) -> tuple[bytes, int]:
    """The last ``MAX_LINES`` lines of ``data`` (which begins at byte ``start``)."""
    cut = len(data) - 1 if data.endswith(b"\n") else len(data)
    for _ in range(MAX_LINES):
        cut = data.rfind(b"\n", 0, cut)
        if cut < 0:
            return data, start
    return data[cut + 1 :], start + cut + 1


def _keep_first_lines(data: bytes) -> bytes:
    at = 0
    for _ in range(MAX_LINES):
        at = data.find(b"\n", at) + 1
        if at == 0:
            return data
    return data[:at]


def _complete(data: bytes, running: bool) -> bytes:
    """While the step runs, its last line may not be whole yet: it waits for the next poll
    (unless it fills a whole window: a line that long is shown in pieces)."""
    if not running:
        return data
    cut = data.rfind(b"\n") + 1
    if cut == 0 and len(data) >= TAIL:
        return data
    return data[:cut]


def after_window(path: str | None, start: int, line: int, running: bool) -> Window:
    size = log_size(path)
    data = _complete(read_range(path, start, min(size, start + TAIL)), running)
    if not running and start + len(data) < size:
        data = data[: data.rfind(b"\n") + 1] or data  # more follows: stop at a line's end
    data = _keep_first_lines(data)
    lines = split_lines(path, data, start, line) if path else []
    return Window(start, start + len(data), line, lines, size)


def before_window(path: str | None, end: int, line: int) -> Window:
    """The lines before byte ``end`` (a line's start numbered ``line``), ``TAIL`` at most."""
    size = log_size(path)
    end = min(end, size)
    start = max(0, end - TAIL)
    data = read_range(path, start, end)
    if start > 0:
        newline = data.find(b"\n")
        if 0 <= newline < len(data) - 1:
            data, start = data[newline + 1 :], start + newline + 1
    data, start = _keep_last_lines(data, start)
    first = max(1, line - data.count(b"\n") - (0 if data.endswith(b"\n") or not data else 1))
    lines = split_lines(path, data, start, first) if path else []
    return Window(start, end, first, lines, size)


# -- the step page's part ------------------------------------------------------------------------


def viewer_context(log: reads.AttemptLog, run_id: int, step_id: str, number: int) -> dict[str, Any]:
    """What ``_step.html`` needs to show an attempt's log."""
    following = not is_terminal(log.status)
    window = tail_window(log.log_path, following)
    base = f"/runs/{run_id}/steps/{step_id}/attempts/{number}/log"
    return {
        "log_url": base,
        "log": window,
        "following": following,
    }


# -- endpoints -----------------------------------------------------------------------------------


def _find(request: Request, run_id: int, step_id: str, number: int) -> reads.AttemptLog | Response:
    if session.visitor(request) is None:
        return Response("log in first", status_code=401, media_type="text/plain")
    engine: Engine = request.app.state.engine
    try:
        with engine.db.read() as conn:
            return reads.attempt_log(conn, run_id, step_id, number)
    except MaestroError as exc:
        return Response(exc.message, status_code=status_of(exc), media_type="text/plain")


_PLAIN = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


@router.api_route("/runs/{run_id}/steps/{step_id}/attempts/{number}/log", methods=PAGE_METHODS)
def attempt_log(
    request: Request,
    run_id: RunId,
    step_id: StepId,
    number: Attempt,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=8 * CHUNK)] = CHUNK,
) -> Response:
    """The attempt's log from ``offset`` as plain text, ``X-Next-Offset`` saying where to go
    on and ``X-Attempt-Status`` whether to; or the byte range a ``Range`` header asks for."""
    info = _find(request, run_id, step_id, number)
    if isinstance(info, Response):
        return info
    size = log_size(info.log_path)
    asked = request.headers.get("range")
    if asked is not None:
        return _ranged(info, asked, size)
    end = min(size, offset + limit)
    data = read_range(info.log_path, offset, end)
    return Response(
        data,
        media_type="text/plain; charset=utf-8",
        headers={
            **_PLAIN,
            "X-Log-Size": str(size),
            "X-Next-Offset": str(offset + len(data)),
            "X-Attempt-Status": info.status,
            "Accept-Ranges": "bytes",
        },
    )


def parse_range(header: str, size: int) -> tuple[int, int] | str:
    """``(first, last)`` of a one-range ``Range`` header, or why it cannot be served."""
    found = _RANGE.fullmatch(header.strip())
    if found is None:
        return f"Range must be one range of bytes (bytes=FIRST-LAST), not {header[:80]!r}"
    first, last = found.groups()
    if not first and not last:
        return "Range bytes=- names no byte"
    if not first:  # the last N bytes
        count = int(last)
        if count == 0:
            return "Range bytes=-0 names no byte"
        return (max(0, size - count), size - 1) if size else "the log is empty"
    begin = int(first)
    stop = min(int(last), size - 1) if last else size - 1
    if last and int(last) < begin:
        return f"Range {header!r} ends before it starts"
    if begin >= size:
        return f"Range starts at byte {begin}, the log has {size}"
    return begin, stop


def _ranged(info: reads.AttemptLog, header: str, size: int) -> Response:
    asked = parse_range(header, size)
    if isinstance(asked, str):
        return Response(
            asked + "\n",
            status_code=416,
            media_type="text/plain",
            headers={**_PLAIN, "Content-Range": f"bytes */{size}"},
        )
    first, last = asked
    return StreamingResponse(
        _stream(info.log_path, first, last + 1),
        status_code=206,
        media_type="text/plain; charset=utf-8",
        headers={
            **_PLAIN,
            "Content-Range": f"bytes {first}-{last}/{size}",
            "Content-Length": str(last + 1 - first),
            "Accept-Ranges": "bytes",
            "X-Attempt-Status": info.status,
        },
    )


def _stream(path: str | None, start: int, end: int) -> Iterator[bytes]:
    """Bytes ``[start, end)`` of the log, ``CHUNK`` at a time (a sync iterator: Starlette
    runs it in the threadpool)."""
    if not path:
        return
    try:
        log = FsPath(path).open("rb")  # noqa: SIM115  # closed by the with below
    except FileNotFoundError:
        return
    with log:
        log.seek(start)
        left = end - start
        while left > 0 and (block := log.read(min(CHUNK, left))):
            left -= len(block)
            yield block


@router.api_route(
    "/runs/{run_id}/steps/{step_id}/attempts/{number}/log/download", methods=PAGE_METHODS
)
def download_log(request: Request, run_id: RunId, step_id: StepId, number: Attempt) -> Response:
    """The whole log as a file to save, streamed (as long as it is when asked)."""
    info = _find(request, run_id, step_id, number)
    if isinstance(info, Response):
        return info
    size = log_size(info.log_path)
    name = f"run-{run_id}-{step_id}-attempt-{number}.log"
    return StreamingResponse(
        _stream(info.log_path, 0, size),
        media_type="text/plain; charset=utf-8",
        headers={
            **_PLAIN,
            "Content-Disposition": f'attachment; filename="{name}"',
            "Content-Length": str(size),
        },
    )


@router.api_route(
    "/runs/{run_id}/steps/{step_id}/attempts/{number}/log/lines", methods=PAGE_METHODS
)
def log_lines(
    request: Request,
    run_id: RunId,
    step_id: StepId,
    number: Attempt,
    line: LineNo,
    after: Offset | None = None,
    before: Offset | None = None,
) -> Response:
    """The lines after byte ``after`` (follow) or before byte ``before`` (load earlier), the
    first of them (``after``) or the one at ``before`` numbered ``line``, as HTML items."""
    if (after is None) == (before is None):
        return Response(
            "give after=OFFSET (the lines from there) or before=OFFSET (the lines before it)",
            status_code=400,
            media_type="text/plain",
        )
    info = _find(request, run_id, step_id, number)
    if isinstance(info, Response):
        return info
    running = not is_terminal(info.status)
    if after is not None:
        window = after_window(info.log_path, after, line, running)
    else:
        assert before is not None
        window = before_window(info.log_path, before, line)
    html = environment().get_template("_log_lines.html").render(lines=window.lines)
    return Response(
        html,
        media_type="text/html; charset=utf-8",
        headers={
            **SECURITY_HEADERS,
            "X-Start": str(window.start),
            "X-End": str(window.end),
            "X-First-Line": str(window.first_line),
            "X-Next-Line": str(window.next_line),
            "X-Log-Size": str(window.size),
            "X-Attempt-Status": info.status,
        },
    )


@router.api_route(
    "/runs/{run_id}/steps/{step_id}/attempts/{number}/log/count", methods=PAGE_METHODS
)
def log_count(
    request: Request,
    run_id: RunId,
    step_id: StepId,
    number: Attempt,
    q: Annotated[str, Query(min_length=1, max_length=256, pattern=r"^[^\x00\n]*$")],
    end: Offset,
) -> Response:
    """How often ``q`` occurs in the log before byte ``end`` (plain text: the number)."""
    info = _find(request, run_id, step_id, number)
    if isinstance(info, Response):
        return info
    found = count_matches(info.log_path, q, min(end, log_size(info.log_path)))
    return Response(str(found), media_type="text/plain", headers=_PLAIN)
