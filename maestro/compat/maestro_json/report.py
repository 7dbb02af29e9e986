"""The import report: every Maestro field maps, becomes a note, or makes it not importable."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TRANSLATED = "translated"
WITH_NOTES = "translated with notes"
NOT_IMPORTABLE = "not importable"


@dataclass
class Report:
    """What happened to one definition; notes and reasons carry their JSON path."""

    source: str = ""
    workflow_id: str | None = None
    notes: list[tuple[str, str]] = field(default_factory=list)
    reasons: list[tuple[str, str]] = field(default_factory=list)
    output: str | None = None

    def note(self, path: str, message: str) -> None:
        self.notes.append((path, message))

    def refuse(self, path: str, message: str) -> None:
        self.reasons.append((path, message))

    @property
    def result(self) -> str:
        if self.reasons:
            return NOT_IMPORTABLE
        return WITH_NOTES if self.notes else TRANSLATED

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "workflow_id": self.workflow_id,
            "result": self.result,
            "output": self.output,
            "notes": [{"path": p, "message": m} for p, m in self.notes],
            "reasons": [{"path": p, "message": m} for p, m in self.reasons],
        }

    def text(self) -> str:
        lines = [f"{self.source}: {self.result}" + (f" -> {self.output}" if self.output else "")]
        lines += [f"  not importable: {p}: {m}" for p, m in self.reasons]
        lines += [f"  note: {p}: {m}" for p, m in self.notes]
        return "\n".join(lines)

    def problem_text(self) -> str:
        """One line naming every reason, for errors of run/validate/POST."""
        return "not importable Maestro definition: " + "; ".join(
            f"{p}: {m}" for p, m in self.reasons
        )
