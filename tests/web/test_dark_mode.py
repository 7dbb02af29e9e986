"""The statuses in the light and the dark color scheme (``api/web/status.py``): every text
legible on its fill (WCAG contrast 4.5:1 or more) and the statuses that can appear side by
side apart in color (CIE76 ΔE of 10 or more) — besides the symbol, the label and the border
that already tell them apart."""

from __future__ import annotations

import itertools
import math

import pytest
from fastapi.testclient import TestClient

from api.web.status import DARK_LOOKS, DARK_PAGE, DEFINED, LOOKS, NOT_CREATED, dark_look, look
from maestro.states import AlertStatus, AttemptStatus, RunStatus, StepStatus

SCHEMES = {"light": look, "dark": dark_look}
#: statuses that are drawn together: a run's steps and attempts, the runs of a grid, alerts
FAMILIES = {
    "runs, steps and attempts": (
        {s.value for s in (*RunStatus, *StepStatus, *AttemptStatus)} | {NOT_CREATED}
    ),
    "alerts": {s.value for s in AlertStatus},
}
#: NOT_CREATED only appears when a run has no step at all: never beside PENDING
NEVER_TOGETHER = {frozenset({"PENDING", NOT_CREATED})}


def _linear(channel: float) -> float:
    return channel / 12.92 if channel <= 0.04045 else ((channel + 0.055) / 1.055) ** 2.4


def _rgb(color: str) -> tuple[float, float, float]:
    h = color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) / 255 for i in (0, 2, 4))
    return r, g, b


def luminance(color: str) -> float:
    r, g, b = (_linear(c) for c in _rgb(color))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _lab(color: str) -> tuple[float, float, float]:
    r, g, b = (_linear(c) for c in _rgb(color))
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116

    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


def delta_e(a: str, b: str) -> float:
    return math.dist(_lab(a), _lab(b))


def test_the_contrast_helpers_agree_with_wcag() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    assert delta_e("#ffffff", "#ffffff") == 0


@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_status_text_is_legible_on_its_fill(scheme: str) -> None:
    weak = {
        name: round(contrast(lk.fill, lk.text), 2)
        for name in LOOKS
        if (lk := SCHEMES[scheme](name)) and contrast(lk.fill, lk.text) < 4.5
    }
    assert weak == {}


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("family", FAMILIES)
def test_statuses_shown_together_stay_apart_in_color(scheme: str, family: str) -> None:
    seen = SCHEMES[scheme]
    close = [
        (a, b, round(delta_e(seen(a).fill, seen(b).fill), 1))
        for a, b in itertools.combinations(sorted(FAMILIES[family]), 2)
        if frozenset({a, b}) not in NEVER_TOGETHER and delta_e(seen(a).fill, seen(b).fill) < 10
    ]
    assert close == []


def test_no_status_fill_glares_or_vanishes_on_the_dark_page() -> None:
    # a near-white fill would glare; a fill like the page's own needs the dashed border
    # (NOT_CREATED, the ghost of a step that was never made, is meant to look like nothing)
    for name in LOOKS:
        if name in (NOT_CREATED, DEFINED):
            continue
        fill = dark_look(name).fill
        assert luminance(fill) < 0.8, name
        assert delta_e(fill, DARK_PAGE) >= 15, name


def test_the_status_css_turns_dark_with_the_scheme(client: TestClient) -> None:
    css = client.get("/static/status.css").text
    light, _, dark = css.partition("@media (prefers-color-scheme: dark) {")
    assert f".st-PENDING{{background:{LOOKS['PENDING'].fill}" in light
    for name, (fill, text) in DARK_LOOKS.items():
        assert f".st-{name}{{background:{fill};color:{text}}}" in dark
        assert f'rect[data-status="{name}"]{{fill:{fill}}}' in dark  # the SVG drawings too
    page = client.get("/").text
    assert '<link rel="stylesheet" href="/static/comfort.css?v=' in page
    comfort = client.get("/static/comfort.css").text
    assert "@media (prefers-color-scheme: dark)" in comfort and "color-scheme: dark" in comfort
