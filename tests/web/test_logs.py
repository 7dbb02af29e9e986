"""The step page's log viewer and the log endpoints: numbered lines, stderr marked, escaping,
a 50 MB log served by its tail and by byte ranges without reading it whole, the download."""

from __future__ import annotations

import hashlib
import html as htmllib
import re
import time
import tracemalloc
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.web import logs
from maestro import reads
from tests.engine.harness import Harness
from tests.web.conftest import Authed

NOISY = """
id: noisy
owner: o
steps:
  - id: talk
    type: shell
    shell:
      command: "echo '<script>alert(1)</script>'; sleep 0.1; echo oops >&2; sleep 0.1; echo fine"
"""


def _talk(harness: Harness) -> int:
    run_id = harness.start(NOISY)
    harness.drain(run_id)
    return run_id


def _log_path(harness: Harness, run_id: int, step: str = "talk") -> Path:
    with harness.engine.db.read() as conn:
        path = reads.attempt_log(conn, run_id, step, 1).log_path
    assert path is not None
    return Path(path)


def _lines(html: str) -> list[tuple[str, str, str]]:
    """(id, classes, text) of each rendered line."""
    line = r'<li class="([^"]*)" id="(L\d+)"[^>]*>.*?<span class="tx">(.*?)</span></li>'
    found = re.findall(line, html)
    return [(i, c, htmllib.unescape(re.sub(r"<[^>]+>", "", t))) for c, i, t in found]


def test_lines_are_numbered_stderr_marked_and_log_content_inert(
    client: TestClient, harness: Harness
) -> None:
    run_id = _talk(harness)
    html = client.get(f"/runs/{run_id}/steps/talk/attempts/1").text
    assert "<script>alert(1)" not in html  # the log's own markup renders as text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    lines = _lines(html)
    assert [i for i, _, _ in lines] == [f"L{n}" for n in range(1, len(lines) + 1)]
    by_text = {text: classes for _, classes, text in lines}
    assert by_text["oops"] == "ln err"  # stderr: the class, the "err" label, red text
    assert by_text["fine"] == "ln" and by_text["<script>alert(1)</script>"] == "ln"
    assert '<span class="src">err</span><span class="tx"><span class="e">oops</span>' in html
    # arrival times: each line that starts a new second shows it, with the full stamp
    assert re.search(r'<span class="tm" title="\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC">\d\d:', html)
    # the raw endpoint, the API's and the CLI's plain text are untouched
    raw = client.get(f"/runs/{run_id}/steps/talk/attempts/1/log").text
    assert raw.endswith("<script>alert(1)</script>\noops\nfine\n")


def test_download_is_the_whole_file_as_an_attachment(client: TestClient, harness: Harness) -> None:
    run_id = _talk(harness)
    got = client.get(f"/runs/{run_id}/steps/talk/attempts/1/log/download")
    assert got.status_code == 200
    assert got.headers["content-disposition"] == (
        f'attachment; filename="run-{run_id}-talk-attempt-1.log"'
    )
    assert got.headers["content-type"] == "text/plain; charset=utf-8"
    assert got.content == _log_path(harness, run_id).read_bytes()
    assert int(got.headers["content-length"]) == len(got.content)
    missing = client.get(f"/runs/{run_id}/steps/talk/attempts/9/log/download")
    assert missing.status_code == 404


def test_the_lines_endpoint_needs_one_direction(client: TestClient, harness: Harness) -> None:
    run_id = _talk(harness)
    url = f"/runs/{run_id}/steps/talk/attempts/1/log/lines"
    assert client.get(url, params={"line": 1}).status_code == 400
    assert client.get(url, params={"line": 1, "after": 0, "before": 5}).status_code == 400
    assert client.get(url, params={"line": 0, "after": 0}).status_code == 400  # line >= 1
    done = client.get(url, params={"line": 1, "after": 0})
    assert done.status_code == 200 and "oops" in done.text
    assert done.headers["x-attempt-status"] == "SUCCEEDED"


# -- a 50 MB log ---------------------------------------------------------------------------------

BLOCK_LINES = 20_000
BLOCKS = 50


@pytest.fixture
def big_log(client: TestClient, harness: Harness) -> tuple[str, Path, bytes]:
    """An attempt whose log is replaced by ~50 MB of numbered lines (written a block at a
    time); returns its URL, its path and the sha256 of the content."""
    run_id = _talk(harness)
    path = _log_path(harness, run_id)
    path.with_name(path.name + ".idx").unlink(missing_ok=True)
    digest = hashlib.sha256()
    with path.open("wb") as log:
        for b in range(BLOCKS):
            base = b * BLOCK_LINES
            block = "".join(
                f"row {base + i + 1:08d} " + "x" * 40 + "\n" for i in range(BLOCK_LINES)
            ).encode()
            digest.update(block)
            log.write(block)
    assert path.stat().st_size > 50_000_000
    return f"/runs/{run_id}/steps/talk/attempts/1", path, digest.digest()


def _measure(call):  # type: ignore[no-untyped-def]
    tracemalloc.start()
    began = time.perf_counter()
    try:
        result = call()
        took = time.perf_counter() - began
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, took, peak


def test_a_50_mb_log_shows_its_tail_without_being_read_whole(
    client: TestClient, big_log: tuple[str, Path, bytes]
) -> None:
    url, path, _ = big_log
    page, took, peak = _measure(lambda: client.get(url))
    assert page.status_code == 200
    lines = _lines(page.text)
    total = BLOCK_LINES * BLOCKS
    # the last 256 KB or 3,000 lines, from a line's start, numbered as in the whole file
    assert lines[-1] == (f"L{total}", "ln", f"row {total:08d} " + "x" * 40)
    first = int(lines[0][0][1:])
    assert lines[0][2] == f"row {first:08d} " + "x" * 40
    shown = sum(len(text) + 1 for _, _, text in lines)
    assert shown <= logs.TAIL and len(lines) == logs.MAX_LINES
    assert len(page.content) < 4 * logs.TAIL  # the tail and its markup, not the log
    view = re.search(r'data-start="(\d+)"', page.text)
    assert view is not None and int(view.group(1)) == path.stat().st_size - shown
    assert peak < 12 * 1024 * 1024, f"{peak} bytes allocated for a 50 MB log"
    assert took < 10, f"{took:.1f} s"

    # load earlier: the lines just before, by byte offset, numbered back from the first
    earlier = client.get(url + "/log/lines", params={"before": view.group(1), "line": first})
    assert earlier.status_code == 200
    assert int(earlier.headers["x-next-line"]) == first
    assert int(earlier.headers["x-end"]) == int(view.group(1))
    got = _lines(earlier.text)
    assert got[-1][2] == f"row {first - 1:08d} " + "x" * 40 and got[-1][0] == f"L{first - 1}"
    assert int(earlier.headers["x-first-line"]) == int(got[0][0][1:])
    assert got[0][2] == f"row {int(got[0][0][1:]):08d} " + "x" * 40
    assert len(got) == logs.MAX_LINES
    assert len(earlier.content) < 4 * logs.TAIL


def test_byte_ranges_of_a_50_mb_log(client: TestClient, big_log: tuple[str, Path, bytes]) -> None:
    url, path, _ = big_log
    raw = url + "/log"
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(100)
        f.seek(size - 1000)
        tail = f.read()
        f.seek(1_000_000)
        middle = f.read(50)

    first = client.get(raw, headers={"Range": "bytes=0-99"})
    assert first.status_code == 206 and first.content == head
    assert first.headers["content-range"] == f"bytes 0-99/{size}"
    assert first.headers["content-length"] == "100"
    last, took, peak = _measure(lambda: client.get(raw, headers={"Range": "bytes=-1000"}))
    assert last.status_code == 206 and last.content == tail
    assert last.headers["content-range"] == f"bytes {size - 1000}-{size - 1}/{size}"
    assert peak < 8 * 1024 * 1024 and took < 5
    inside = client.get(raw, headers={"Range": "bytes=1000000-1000049"})
    assert inside.status_code == 206 and inside.content == middle
    open_ended = client.get(raw, headers={"Range": f"bytes={size - 10}-"})
    assert open_ended.status_code == 206 and open_ended.content == tail[-10:]
    beyond = client.get(raw, headers={"Range": f"bytes=0-{size + 500}"})  # clipped to the end
    assert beyond.headers["content-range"] == f"bytes 0-{size - 1}/{size}"

    bad_ranges = [f"bytes={size}-", "bytes=5-2", "bytes=-0", "bytes=abc", "items=0-1"]
    for bad in [*bad_ranges, "bytes=0-1,5-6"]:
        refused = client.get(raw, headers={"Range": bad})
        assert refused.status_code == 416, bad
        assert refused.headers["content-range"] == f"bytes */{size}"
        assert refused.text.strip()  # says why


def test_the_search_counts_what_lies_before_the_lines_shown(
    client: TestClient, big_log: tuple[str, Path, bytes]
) -> None:
    url, path, _ = big_log
    size = path.stat().st_size
    count = url + "/log/count"
    # ASCII case ignored; a match cut by a 1 MB read boundary is found once
    got, took, peak = _measure(lambda: client.get(count, params={"q": "ROW 0000000", "end": size}))
    assert got.status_code == 200 and got.text == "9"  # rows 1 to 9
    assert peak < 8 * 1024 * 1024 and took < 10
    assert client.get(count, params={"q": "row 00019419 x", "end": size}).text == "1"
    with path.open("rb") as f:
        f.seek(1024 * 1024 - 60)
        around = f.read(120)  # the line the first 1 MB read ends in
    cut = around.rfind(b"\n", 0, 60) + 1
    across = around[cut : around.index(b"\n", 60)].decode()
    assert 0 < cut < 60 and across.startswith("row ")
    assert client.get(count, params={"q": across.upper(), "end": size}).text == "1"
    assert client.get(count, params={"q": "row 00000002", "end": 60}).text == "0"  # before end
    assert client.get(count, params={"q": "", "end": 5}).status_code == 400


def test_the_download_of_a_50_mb_log_streams(
    client: TestClient, big_log: tuple[str, Path, bytes]
) -> None:
    url, path, digest = big_log

    def download() -> tuple[int, bytes, dict[str, str]]:
        h = hashlib.sha256()
        size = 0
        with client.stream("GET", url + "/log/download") as response:
            for chunk in response.iter_bytes():
                h.update(chunk)
                size += len(chunk)
            return size, h.digest(), dict(response.headers)

    (size, got, headers), took, peak = _measure(download)
    assert size == path.stat().st_size and got == digest
    assert headers["content-disposition"].startswith("attachment; ")
    assert peak < 16 * 1024 * 1024, f"{peak} bytes allocated to download a 50 MB log"
    assert took < 20


def test_head_answers_the_headers_alone(client: TestClient, harness: Harness) -> None:
    run_id = _talk(harness)
    url = f"/runs/{run_id}/steps/talk/attempts/1/log"
    size = _log_path(harness, run_id).stat().st_size
    download = client.head(url + "/download")
    assert download.status_code == 200 and download.content == b""
    assert download.headers["content-length"] == str(size)
    ranged = client.head(url, headers={"Range": "bytes=0-9"})
    assert ranged.status_code == 206 and ranged.content == b""
    assert ranged.headers["content-range"] == f"bytes 0-9/{size}"


def _write_indexed(path: Path, parts: list[tuple[bytes, int, float]]) -> None:
    """A log made of ``(bytes, stream, time)`` parts, and its index."""
    from maestro.logindex import Mark, index_path, pack

    offset = 0
    with path.open("wb") as log, index_path(path).open("wb") as index:
        for data, stream, when in parts:
            index.write(pack(Mark(offset, when, stream)))
            log.write(data)
            offset += len(data)


def test_a_line_mixing_streams_marks_only_its_stderr_part(tmp_path: Path) -> None:
    from maestro.logindex import STDERR, STDOUT

    path = tmp_path / "1.log"
    t = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC
    _write_indexed(
        path,
        [(b"out ", STDOUT, t), (b"err\nmore err\n", STDERR, t + 0.5), (b"back\n", STDOUT, t + 2)],
    )
    window = logs.tail_window(str(path), running=False)
    assert [(x.number, [(s.text, s.err) for s in x.segments]) for x in window.lines] == [
        (1, [("out ", False), ("err", True)]),
        (2, [("more err", True)]),
        (3, [("back", False)]),
    ]
    assert [x.err for x in window.lines] == [True, True, False]
    # a time where it changes from the line above, the full stamp on each
    assert [x.time for x in window.lines] == ["00:00:00", "", "00:00:02"]
    assert window.lines[1].stamp == "2026-01-01 00:00:00 UTC"


def test_a_running_log_is_shown_by_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "1.log"
    path.write_bytes(b"one\ntwo\nthr")
    shown = logs.tail_window(str(path), running=True)
    assert [x.segments[0].text for x in shown.lines] == ["one", "two"] and shown.end == 8
    path.write_bytes(b"one\ntwo\nthree\nfo")
    more = logs.after_window(str(path), shown.end, shown.next_line, running=True)
    assert [(x.number, x.segments[0].text) for x in more.lines] == [(3, "three")]
    assert more.end == 14
    ended = logs.after_window(str(path), more.end, more.next_line, running=False)
    assert [(x.number, x.segments[0].text) for x in ended.lines] == [(4, "fo")]
    # one line longer than a window is shown in pieces rather than never
    path.write_bytes(b"x" * (logs.TAIL + 10))
    assert logs.tail_window(str(path), running=True).end == logs.TAIL + 10


def test_the_log_endpoints_need_a_session(authed: Authed, harness: Harness) -> None:
    run_id = _talk(harness)
    url = f"/runs/{run_id}/steps/talk/attempts/1/log"
    for path, headers in (
        (url, {"Range": "bytes=0-9"}),
        (url + "/download", {}),
        (url + "/lines?after=0&line=1", {}),
    ):
        assert authed.client.get(path, headers=headers).status_code == 401, path
    assert authed.log_in("reader").status_code == 303
    assert authed.client.get(url + "/download").status_code == 200
    assert authed.client.get(url, headers={"Range": "bytes=0-9"}).status_code == 206
    assert "oops" in authed.client.get(url + "/lines?after=0&line=1").text
