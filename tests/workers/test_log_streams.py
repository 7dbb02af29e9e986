"""stderr kept apart from stdout: the log stays plain text, its index (``<log>.idx``) says
which bytes came from stderr and when they arrived, capped logs included."""

from __future__ import annotations

import time
from pathlib import Path

from maestro.logindex import STDERR, STDOUT, Mark, index_path, marks
from tests.workers.test_warden import run_shell
from workers.logfile import LazyLog


def stream_at(path: Path, offset: int) -> Mark:
    found = marks(path, offset, offset + 1)
    assert found and found[0].offset <= offset, f"no record covers byte {offset}"
    return found[0]


def test_stderr_lines_are_indexed_and_the_log_stays_plain(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    began = time.time()
    command = "echo out1; sleep 0.1; echo err1 >&2; sleep 0.1; echo out2; echo bye"
    with LazyLog(path) as log:
        assert run_shell(command, tmp_path, log).status == "succeeded"
    text = path.read_bytes()
    assert text.endswith(b"out1\nerr1\nout2\nbye\n")  # no prefix, no marker
    for line, stream in ((b"out1", STDOUT), (b"err1", STDERR), (b"out2", STDOUT)):
        mark = stream_at(path, text.index(line + b"\n"))
        assert mark.stream == stream, line
        assert began - 1 <= mark.time <= time.time() + 1
    # a few records, not one per write
    assert index_path(path).stat().st_size <= 16 * 17


def test_a_capped_log_moves_the_index_of_its_tail(tmp_path: Path) -> None:
    path = tmp_path / "step.log"
    cap = 1024 * 1024
    command = (
        "echo START; echo early >&2; sleep 0.1; head -c 5000000 /dev/zero | tr '\\0' x; "
        "echo; sleep 0.1; echo late >&2; sleep 0.1; echo END"
    )
    with LazyLog(path, cap) as log:
        assert run_shell(command, tmp_path, log).status == "succeeded"
    text = path.read_bytes()
    assert len(text) < cap + 300 and text.endswith(b"late\nEND\n")
    assert stream_at(path, text.index(b"early\n")).stream == STDERR
    assert stream_at(path, text.index(b"late\n")).stream == STDERR
    assert stream_at(path, text.index(b"END\n")).stream == STDOUT
    note = text.index(b"\n[maestro] log truncated")
    assert stream_at(path, note + 1).stream == STDOUT
    assert stream_at(path, note + 200).stream == STDOUT  # the x's of the tail
    offsets = [m.offset for m in marks(path, 0, len(text))]
    assert offsets == sorted(offsets) and offsets[-1] < len(text)


def test_a_capped_log_keeps_the_stream_in_force_where_its_tail_starts(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    with LazyLog(path, 8192) as log:
        log.write(b"head\n")
        log.write_stream(b"e" * 20000 + b"\n", STDERR)  # crosses the head, is cut, ends the tail
    text = path.read_bytes()
    tail = text.index(b"follows\n") + len(b"follows\n")
    assert stream_at(path, 0).stream == STDOUT
    assert stream_at(path, 6).stream == STDERR
    assert stream_at(path, tail).stream == STDERR
    assert stream_at(path, len(text) - 1).stream == STDERR
