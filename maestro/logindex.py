"""The stream index of an attempt log: which bytes came from stderr, and when they arrived.

The log itself (``<attempt>.log``) stays the plain text it always was — what ``maestro runs
logs``, the API and the raw endpoint serve. Beside it, ``<attempt>.log.idx`` holds fixed-size
records ``(offset, time, stream)``: from ``offset`` on, the log's bytes came from ``stream``
(0 stdout, 1 stderr) and arrived at ``time`` (Unix seconds, as the worker saw them). The
worker adds a record when the stream changes, and at most one a second otherwise, so a step
that only prints costs a record a second, and any byte's stream and arrival time (to within
a second) is the record at or before it. Records are in offset order: a reader bisects the
file for a window of the log and never reads the whole index.

The workers write it (``workers/logfile.py``), the web view reads it (``api/web/logs.py``);
a log without an index (older attempts, runtimes that merge their streams) reads as stdout
with no times.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

STDOUT = 0
STDERR = 1
#: offset (u64), arrival time (f64, Unix seconds), stream (u8)
RECORD = struct.Struct("<QdB")
#: a record is added for a stream that keeps going once this many seconds have passed
EVERY = 1.0


@dataclass(frozen=True, slots=True)
class Mark:
    offset: int
    time: float
    stream: int


def index_path(log_path: str | Path) -> Path:
    return Path(f"{log_path}.idx")


def pack(mark: Mark) -> bytes:
    return RECORD.pack(mark.offset, mark.time, mark.stream)


def _record(index: BinaryIO, i: int) -> Mark:
    index.seek(i * RECORD.size)
    offset, time, stream = RECORD.unpack(index.read(RECORD.size))
    return Mark(offset, time, stream)


def marks(log_path: str | Path, start: int, end: int) -> list[Mark]:
    """The records that say where the bytes ``[start, end)`` came from: the one in force at
    ``start`` (if any) and those inside the window, found by bisection."""
    try:
        index = index_path(log_path).open("rb")
    except FileNotFoundError:
        return []
    with index:
        count = index.seek(0, 2) // RECORD.size
        low, high = 0, count  # the first record whose offset is > start
        while low < high:
            middle = (low + high) // 2
            if _record(index, middle).offset <= start:
                low = middle + 1
            else:
                high = middle
        found: list[Mark] = []
        index.seek(max(0, low - 1) * RECORD.size)
        while block := index.read(RECORD.size * 4096):
            whole = block[: len(block) // RECORD.size * RECORD.size]  # one may be half written
            for offset, time, stream in RECORD.iter_unpack(whole):
                if offset >= end:
                    return found
                found.append(Mark(offset, time, stream))
        return found
