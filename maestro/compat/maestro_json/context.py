"""What the translation of one definition carries along: the report and the names in scope."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from maestro.compat.maestro_json import sel
from maestro.compat.maestro_json.report import Report


@dataclass
class Ctx:
    report: Report
    scope: sel.Scope = field(default_factory=sel.Scope)

    def with_scope(self, **changes: Any) -> Ctx:
        return Ctx(self.report, replace(self.scope, **changes))

    def expr(self, src: str, path: str, text_result: bool = False) -> str | None:
        """A SEL expression → ``{{ ... }}``, or None (and a reason) when outside the subset."""
        try:
            return "{{ " + sel.translate(src, self.scope, text_result) + " }}"
        except sel.NotImportable as exc:
            self.report.refuse(path, f"SEL: {exc}")
            return None

    def bare(self, src: str, path: str) -> str | None:
        """A SEL expression → a bare expression (conditions)."""
        try:
            return sel.translate(src, self.scope)
        except sel.NotImportable as exc:
            self.report.refuse(path, f"SEL: {exc}")
            return None

    def text(self, value: Any, path: str) -> Any:
        """A literal value whose strings may hold ``${p}`` (or ``$p``) references."""
        if isinstance(value, str) and "$" in value:
            try:
                return sel.translate_interpolation(value, self.scope)
            except sel.NotImportable as exc:
                self.report.refuse(path, f"SEL: {exc}")
                return None
        if isinstance(value, list):
            return [self.text(v, f"{path}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, dict):
            return {k: self.text(v, f"{path}.{k}") for k, v in value.items()}
        return value
