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
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, BinaryIO

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

    def _open(self) -> BinaryIO:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "ab")  # noqa: SIM115  # closed by close()
        return self._file

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self._max is None:
            return self._open().write(data)
        chunk = bytes(data)
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
        return len(data)

    def fileno(self) -> int:
        if self._max is not None:
            raise io.UnsupportedOperation("a capped log is written through write()")
        return self._open().fileno()

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._tail or self._dropped:
            log = self._open()
            if self._dropped:
                log.write(
                    f"\n[maestro] log truncated: {self._dropped} bytes dropped here "
                    f"(MAESTRO_MAX_LOG_BYTES={self._max}); the end of the output follows\n".encode()
                )
            log.write(bytes(self._tail))
            self._tail.clear()
            self._dropped = 0
        if self._file is not None:
            self._file.close()
            self._file = None
        super().close()
