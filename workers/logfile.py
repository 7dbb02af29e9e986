"""An attempt log that exists only once something is written to it.

Most no-op and sleep steps never log; creating a folder and a file for each of them cost
more than the rest of their execution. Runtimes see an ordinary binary file object.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, BinaryIO


class LazyLog(io.RawIOBase):
    """A binary append-only file opened (with its folder) on first write or ``fileno()``."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._file: BinaryIO | None = None

    def _open(self) -> BinaryIO:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "ab")  # noqa: SIM115  # closed by close()
        return self._file

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return self._open().write(data)

    def fileno(self) -> int:
        return self._open().fileno()

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        super().close()
