"""Finding runs in the web view: the filters of the runs page (``/runs``, every workflow) and
of the workflow page, and the home page's recent failures. The filters live in the URL (shareable,
bookmarkable): ``?status=FAILED&status=TIMED_OUT&trigger=cron&since=2026-11-01&until=
2026-11-28&q=eu-west``; dates are days in UTC, both ends included. The reads are
``maestro.reads.run_search`` (bounded at any history size)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import Depends, Query
from fastapi.exceptions import RequestValidationError

from api.errors import BadRequest
from maestro.engine.core import Engine
from maestro.reads.run_search import COUNT_CAP, MAX_TEXT, Found, RunFilter, search_runs
from maestro.states import RunStatus

TRIGGERS = ("manual", "cron", "signal", "backfill", "restart", "subworkflow")
#: a trigger, or "" (the form's "any")
Trigger = Literal["manual", "cron", "signal", "backfill", "restart", "subworkflow", ""]
#: a form's date field: a day, or empty (the form sends ``since=`` when it is left blank)
Day = Annotated[str | None, Query(pattern=r"^(\d{4}-\d{2}-\d{2})?$")]
Words = Annotated[str | None, Query(max_length=MAX_TEXT, pattern=r"^[^\x00]*$")]
WorkflowFilter = Annotated[str | None, Query(pattern=r"^([A-Za-z0-9][A-Za-z0-9._-]{0,127})?$")]
#: failures the home page shows
RECENT_FAILURES = 5
FAILED = (RunStatus.FAILED, RunStatus.TIMED_OUT)


@dataclass(frozen=True)
class Filters:
    """The filters of a page, as the URL gives them."""

    statuses: tuple[RunStatus, ...] = ()
    triggers: tuple[str, ...] = ()
    since: date | None = None
    until: date | None = None
    text: str = ""

    @property
    def active(self) -> bool:
        return bool(self.statuses or self.triggers or self.since or self.until or self.text)

    def run_filter(self, workflow_id: str | None) -> RunFilter:
        return RunFilter(
            workflow_id=workflow_id,
            statuses=self.statuses,
            triggers=self.triggers,
            since=_midnight(self.since),
            until=_midnight(self.until + timedelta(days=1)) if self.until else None,
            text=self.text or None,
        )

    def query(self, **more: str | int | None) -> str:
        """These filters (and ``more``) as a query string, for links that keep them."""
        items: list[tuple[str, str]] = [("status", s.value) for s in self.statuses]
        items += [("trigger", t) for t in self.triggers]
        if self.since:
            items.append(("since", self.since.isoformat()))
        if self.until:
            items.append(("until", self.until.isoformat()))
        if self.text:
            items.append(("q", self.text))
        items += [(k, str(v)) for k, v in more.items() if v is not None]
        return urlencode(items)

    def only(self, status: RunStatus) -> str:
        """The query of the same filters with just ``status`` (a count's link)."""
        return Filters((status,), self.triggers, self.since, self.until, self.text).query()


def _midnight(day: date | None) -> datetime | None:
    return None if day is None else datetime.combine(day, time(), tzinfo=UTC)


def _day(name: str, value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:  # a day that does not exist (2026-02-31): the page's HTML 400
        problem = {"loc": ("query", name), "msg": f"{value!r} is not a day", "type": "value_error"}
        raise RequestValidationError([problem]) from None


def filters(
    status: Annotated[list[RunStatus] | None, Query()] = None,
    trigger: Annotated[list[Trigger] | None, Query()] = None,
    since: Day = None,
    until: Day = None,
    q: Words = None,
) -> Filters:
    """The filters of the query string (a bad value: the page's HTML 400 naming it)."""
    return Filters(
        statuses=tuple(dict.fromkeys(status or ())),
        triggers=tuple(dict.fromkeys(t for t in trigger or () if t)),
        since=_day("since", since),
        until=_day("until", until),
        text=(q or "").strip(),
    )


FiltersDep = Annotated[Filters, Depends(filters)]


def check(f: Filters) -> None:
    if f.since and f.until and f.until < f.since:
        raise BadRequest(
            f"until ({f.until.isoformat()}) is before since ({f.since.isoformat()}): swap the dates"
        )


def counts_shown(counts: dict[str, int]) -> dict[str, str]:
    """Counts as the page shows them: "1000+" past the cap."""
    return {s: (f"{COUNT_CAP}+" if n > COUNT_CAP else str(n)) for s, n in counts.items()}


def recent_failures(engine: Engine) -> Found:
    """The newest failed or timed-out runs of every workflow (the home page)."""
    with engine.db.read() as conn:
        return search_runs(conn, RunFilter(statuses=FAILED), limit=RECENT_FAILURES)


def excerpt(params: dict[str, object], width: int = 80) -> str:
    """A run's params on one line, cut at ``width`` characters."""
    text = json.dumps(params, sort_keys=True, ensure_ascii=False, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"
