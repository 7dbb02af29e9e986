"""An attempt log that exists only once something is written to it, and that never grows
past ``max_bytes``.

Most no-op and sleep steps never log; creating a folder and a file for each of them cost
more than the rest of their execution. Runtimes see an ordinary binary file object.

The cap (``MAESTRO_MAX_LOG_BYTES``): the log keeps the first bytes a step writes and, in
memory, its last ``TAIL_BYTES``; what lies between is dropped, and when the attempt ends the
log gets a line saying how much, then the tail — the start (what ran, with which settings)
and the end (the error) of a step that printed 50 GB are both there. A capped log has no
file descriptor to hand out, so runtimes write it through ``write`` (the shell runtime then
feeds it from a pipe).

Which bytes came from stderr, and when each part arrived, goes to a small index beside the log
(``<attempt>.log.idx``, see ``maestro/logindex.py``): runtimes that keep a child's streams apart
write its stderr through ``write_stream(data, STDERR)``; everything else is stdout. The log
itself stays plain text. In a capped log the index follows the cut: records of the dropped
middle are dropped, those of the tail move with it.
"""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO

from maestro.logindex import EVERY, STDOUT, Mark, index_path, pack

#: the end of a capped log kept in memory until the attempt ends (at most half the cap)
TAIL_BYTES = 1 << 20


class LazyLog(io.RawIOBase):
    """A binary append-only file opened (with its folder) on first write or ``fileno()``."""

    def __init__(self, path: Path, max_bytes: int | None = None) -> None:
        super().__init__()
        self.path = path
        self._file: BinaryIO | None = None
        self._max = max_bytes
        self._tail_max = min(TAIL_BYTES, max_bytes // 2) if max_bytes else 0
        self._head_room = (max_bytes - self._tail_max) if max_bytes else 0
        self._tail = bytearray()
        self._dropped = 0
        self._lock = threading.Lock()
        self._index: BinaryIO | None = None
        #: bytes received so far (the file offset of the next byte while nothing is dropped)
        self._received = 0
        self._stream: int | None = None
        self._stamp = 0.0
        #: index records of the tail kept in memory, placed when the log is closed
        self._tail_marks: list[Mark] = []
        #: the last record written to the index as it came (in force where the tail starts
        #: when no record of the tail is)
        self._head_mark: Mark | None = None

    def _open(self) -> BinaryIO:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "ab")  # noqa: SIM115  # closed by close()
        return self._file

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return self.write_stream(data, STDOUT)

    def write_stream(self, data: Any, stream: int) -> int:
        """Append ``data``, which came from ``stream`` (``maestro.logindex.STDOUT``/``STDERR``)."""
        chunk = bytes(data)
        if not chunk:
            return 0
        with self._lock:
            now = time.time()
            if stream != self._stream or now - self._stamp >= EVERY:
                # uncapped, a child may write to the file's descriptor too: ask the file
                at = self._open().tell() if self._max is None else self._received
                self._mark(Mark(at, now, stream))
            self._received += len(chunk)
            self._append(chunk)
        return len(chunk)

    def _mark(self, mark: Mark) -> None:
        self._stream, self._stamp = mark.stream, mark.time
        if self._max is None or self._head_room > 0:
            self._write_index(mark)  # the byte lands in the file at this very offset
            self._head_mark = mark
        else:
            self._tail_marks.append(mark)

    def _write_index(self, mark: Mark) -> None:
        if self._index is None:
            self._open()
            self._index = open(index_path(self.path), "ab")  # noqa: SIM115  # closed by close()
        self._index.write(pack(mark))
        self._index.flush()

    def _append(self, chunk: bytes) -> None:
        if self._max is None:
            self._open().write(chunk)
            return
        if self._head_room > 0:
            head, chunk = chunk[: self._head_room], chunk[self._head_room :]
            self._open().write(head)
            self._head_room -= len(head)
        if chunk:
            self._tail += chunk
            extra = len(self._tail) - self._tail_max
            if extra > 0:
                self._dropped += extra
                del self._tail[:extra]
                self._forget_dropped_marks()

    def _forget_dropped_marks(self) -> None:
        """Keep the marks of the tail, and the one in force where it starts."""
        start = self._received - len(self._tail)
        keep = 0
        while keep + 1 < len(self._tail_marks) and self._tail_marks[keep + 1].offset <= start:
            keep += 1
        if keep:
            del self._tail_marks[:keep]

    def fileno(self) -> int:
        if self._max is not None:
            raise io.UnsupportedOperation("a capped log is written through write()")
        return self._open().fileno()

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._close()
        super().close()

    def _close(self) -> None:
        if self._tail or self._dropped:
            log = self._open()
            tail_start = self._received - len(self._tail)
            if self._dropped:
                note = (
                    f"\n[maestro] log truncated: {self._dropped} bytes dropped here "
                    f"(MAESTRO_MAX_LOG_BYTES={self._max}); the end of the output follows\n"
                ).encode()
                self._write_index(Mark(log.tell(), time.time(), STDOUT))
                log.write(note)
            self._place_tail_marks(log.tell(), tail_start)
            log.write(bytes(self._tail))
            self._tail.clear()
            self._dropped = 0
        if self._index is not None:
            self._index.close()
            self._index = None
        if self._file is not None:
            self._file.close()
            self._file = None

    def _place_tail_marks(self, file_start: int, tail_start: int) -> None:
        """Write the tail's index records at the offsets the tail takes in the file: the one
        in force where the tail starts, then those inside it."""
        marks = ([self._head_mark] if self._head_mark else []) + self._tail_marks
        before = [m for m in marks if m.offset <= tail_start]
        inside = [m for m in marks if m.offset > tail_start]
        if before:
            inside.insert(0, Mark(tail_start, before[-1].time, before[-1].stream))
        for mark in inside:
            self._write_index(Mark(file_start + mark.offset - tail_start, mark.time, mark.stream))
        self._tail_marks.clear()
