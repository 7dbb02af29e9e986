"""Times on the pages: ``<time datetime="…Z">`` in UTC, which ``static/times.js`` shows in the
reader's zone; never inside an attribute, where the element would break the markup."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from importlib import resources

from api.web.render import environment


def test_a_time_is_an_element_in_utc_and_plain_text_in_attributes() -> None:
    when = environment().filters["when"]
    text = environment().filters["when_text"]
    paris = timezone(timedelta(hours=1))
    moment = datetime(2026, 3, 1, 13, 5, 9, tzinfo=paris)
    assert str(when(moment)) == (
        '<time datetime="2026-03-01T12:05:09Z">2026-03-01 12:05:09 UTC</time>'
    )
    assert str(when(datetime(2026, 3, 1, 12, 5, 9))) == str(when(moment))  # naive means UTC
    assert str(when(None)) == "—"
    assert text(moment.astimezone(UTC)) == "2026-03-01 12:05:09 UTC"


def test_no_template_puts_a_time_element_inside_an_attribute() -> None:
    inside_attribute = re.compile(r'="[^"]*\|\s*when\b(?!_text)[^"]*"')
    templates = resources.files("api.web").joinpath("templates")
    offenders = [
        f"{item.name}: {found.group(0)}"
        for item in templates.iterdir()
        if item.name.endswith(".html")
        for found in inside_attribute.finditer(item.read_text())
    ]
    assert offenders == [], "use |when_text inside attributes"
