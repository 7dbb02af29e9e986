"""An attempt's log never grows past MAESTRO_MAX_LOG_BYTES: it keeps the start and the end of
the output, and says how much it dropped in between."""

from __future__ import annotations

from pathlib import Path

from tests.workers.test_warden import run_shell
from workers.logfile import LazyLog


def test_a_capped_log_keeps_its_start_and_its_end_and_counts_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    cap = 64 * 1024
    with LazyLog(path, cap) as log:
        log.write(b"START\n")
        for _ in range(1000):
            log.write(b"x" * 5000)
        log.write(b"\nEND\n")
    text = path.read_bytes()
    assert text.startswith(b"START\n") and text.endswith(b"x\nEND\n")
    marker = text[cap - 32 * 1024 : cap - 32 * 1024 + 200]
    written = 6 + 1000 * 5000 + 5
    assert f"log truncated: {written - cap} bytes dropped".encode() in marker
    assert len(text) < cap + 200


def test_an_uncapped_log_hands_out_its_file_and_a_capped_one_does_not(tmp_path: Path) -> None:
    with LazyLog(tmp_path / "u.log") as log:
        assert log.fileno() > 2
    with LazyLog(tmp_path / "c.log", 4096) as capped:
        try:
            capped.fileno()
        except OSError:
            pass
        else:
            raise AssertionError("a capped log must be written through write()")


def test_a_shell_step_printing_50_mb_leaves_a_log_of_the_cap(tmp_path: Path) -> None:
    path = tmp_path / "step.log"
    cap = 1024 * 1024
    command = "echo START; head -c 50000000 /dev/zero | tr '\\0' x; echo; echo END"
    with LazyLog(path, cap) as log:
        assert run_shell(command, tmp_path, log).status == "succeeded"
    size = path.stat().st_size
    assert cap < size < cap + 300  # the cap, plus the line saying what was dropped
    text = path.read_bytes()
    assert b"START\n" in text[:1000] and text.endswith(b"x\nEND\n")
    assert b"bytes dropped here (MAESTRO_MAX_LOG_BYTES=1048576)" in text
