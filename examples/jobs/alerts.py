"""An alert channel of the examples (``python: {callable: "jobs.alerts:record"}``): each alert
is appended as one JSON line to ``$MAESTRO_HOME/alerts.jsonl``; a real one would page someone.
It runs in the process that sends alerts (``maestro run``, a scheduler), not in a step."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def record(alert: dict[str, Any]) -> None:
    home = Path(os.environ.get("MAESTRO_HOME") or Path.home() / ".maestro")
    with (home / "alerts.jsonl").open("a", encoding="utf-8") as out:
        out.write(json.dumps(alert) + "\n")
