"""The project's exceptions: one base, one subclass per domain failure.

Each class's docstring is its default message, so ``raise NotFound()`` already says something
useful; the API maps these classes to problem+json in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from maestro.wording import plural


class MaestroError(Exception):
    """Something went wrong in Maestro."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip().splitlines()[0])

    @property
    def message(self) -> str:
        return str(self.args[0])


Loc = tuple[str | int, ...]


def format_loc(loc: Sequence[str | int]) -> str:
    """Render a location as users read it: ``steps[2].depends_on[0]``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(root)"


@dataclass(frozen=True)
class Problem:
    """One validation problem: where it is and what is wrong."""

    loc: Loc
    msg: str

    def __str__(self) -> str:
        return f"{format_loc(self.loc)}: {self.msg}"


class DefinitionError(MaestroError):
    """The workflow definition is invalid."""

    def __init__(self, problems: Sequence[Problem], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        head = f"{source}: " if source else ""
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(
            f"{head}invalid workflow definition ({plural(len(self.problems), 'problem')})\n{lines}"
        )


class ParamError(MaestroError):
    """A run parameter is unknown or has the wrong type."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


class ExpressionError(MaestroError):
    """An expression could not be compiled or evaluated."""

    def __init__(self, expression: str, detail: str) -> None:
        self.expression = expression
        self.detail = detail
        shown = expression if len(expression) <= 200 else expression[:200] + "…"
        super().__init__(f"expression {shown!r}: {detail}")


class NotFound(MaestroError):
    """The resource does not exist."""


class InvalidRequest(MaestroError):
    """The request's values do not fit what exists (a version a workflow does not have)."""


class Conflict(MaestroError):
    """The action is not valid in the resource's current state."""


class InvalidTransition(MaestroError):
    """A status change that the state table does not allow (a programming error)."""


class ConcurrentChange(MaestroError):
    """A row this transaction relied on was changed by another one; the unit is retried."""
