"""Python steps of examples/streaming.yaml: land event files for the stream job to pick up."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

KINDS = ["play", "pause", "stop"]


def land(files: int, rows: int, root: str | None = None, first: int = 0) -> dict[str, Any]:
    """Write ``files`` CSV files of ``rows`` events each into ``<root>/events``.

    A new temporary ``root`` is made when none is given. Each file is written under a hidden
    name and renamed, so that the stream never sees half a file.
    """
    base = Path(root) if root else Path(tempfile.mkdtemp(prefix="maestro-streaming-"))
    events = base / "events"
    events.mkdir(parents=True, exist_ok=True)
    for number in range(first, first + files):
        lines = [
            f"{number * rows + i},{(number * 7 + i) % 50},{KINDS[(number + i) % len(KINDS)]}"
            for i in range(rows)
        ]
        partial = events / f".events-{number:04d}.csv.tmp"
        partial.write_text("event_id,user_id,kind\n" + "\n".join(lines) + "\n")
        partial.rename(events / f"events-{number:04d}.csv")
    print(f"landed {files} file(s) of {rows} events in {events}")
    return {"root": str(base), "files": files, "next": first + files}
