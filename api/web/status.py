"""How every status looks, in one place: a fill color, a text color that reads on it, a
symbol and a label — color is never the only cue (color-blind users read the symbol or the
label). The page CSS (``status_css``) and the SVG drawings use the same table, so a status
looks the same everywhere.

The hues follow the Okabe–Ito palette, which stays distinguishable under the common forms of
color blindness; success and failure also differ in symbol (✓ / ✗) and in lightness.
"""

from __future__ import annotations

from dataclasses import dataclass

from maestro.states import ATTEMPT_TERMINAL, RUN_TERMINAL, STEP_TERMINAL, RunStatus, StepStatus

DARK = "#1f2328"
LIGHT = "#ffffff"


@dataclass(frozen=True)
class Look:
    fill: str
    text: str
    symbol: str
    label: str


LOOKS: dict[str, Look] = {
    "SUCCEEDED": Look("#007a5a", LIGHT, "✓", "succeeded"),
    "FAILED": Look("#c43c00", LIGHT, "✗", "failed"),
    "FAILED_IGNORED": Look("#f5c6a5", DARK, "!", "failed (ignored)"),
    "TIMED_OUT": Look("#7a3b00", LIGHT, "◔", "timed out"),
    "UPSTREAM_FAILED": Look("#cc79a7", DARK, "⊘", "upstream failed"),
    "STOPPED": Look("#4b5563", LIGHT, "■", "stopped"),
    "LOST": Look("#6f42c1", LIGHT, "?", "lost"),
    "SKIPPED": Look("#d0d7de", DARK, "↷", "skipped"),
    "PENDING": Look("#f3f4f6", DARK, "○", "pending"),
    "WAITING": Look("#f0e442", DARK, "◷", "waiting"),
    "QUEUED": Look("#9fd3f2", DARK, "⋯", "queued"),
    "RUNNING": Look("#0072b2", LIGHT, "▶", "running"),
    "RETRYING": Look("#e69f00", DARK, "↻", "retrying"),
    "PAUSED": Look("#ffd479", DARK, "‖", "paused"),
    # alerts (``AlertStatus``): PENDING and FAILED look as above
    "SCHEDULED": Look("#c5e4ff", DARK, "◌", "scheduled"),
    "DELIVERED": Look("#007a5a", LIGHT, "✔", "delivered"),
    # backfills (``BackfillStatus``): RUNNING looks as above
    "DONE": Look("#007a5a", LIGHT, "☑", "done"),
    "CANCELLED": Look("#4b5563", LIGHT, "⊠", "cancelled"),
}
UNKNOWN = Look("#ffffff", DARK, "·", "unknown")
#: a step of a definition, not of a run (``maestro graph --format svg``): no status to show
DEFINED = "DEFINED"
LOOKS[DEFINED] = Look("#f6f8fa", DARK, "", "")
#: a step of a run that has no row for it: the run was stopped (or is still) QUEUED
NOT_CREATED = "NOT_CREATED"
LOOKS[NOT_CREATED] = Look("#ffffff", DARK, "–", "not created")

#: the dark color scheme (``prefers-color-scheme: dark``, page background ``DARK_PAGE``): the
#: statuses whose light fill would glare on it or fade into it, as a fill and a text color;
#: the others keep their look. Every text stays at 4.5:1 or more on its fill, and the
#: statuses that can appear side by side stay apart in color (tests/web/test_dark_mode.py).
DARK_PAGE = "#0d1117"
DARK_TEXT = "#e6edf3"
DARK_LOOKS: dict[str, tuple[str, str]] = {
    "TIMED_OUT": ("#9a4a00", LIGHT),
    "STOPPED": ("#6b7280", LIGHT),
    "LOST": ("#8250df", LIGHT),
    "SKIPPED": ("#8c959f", DARK_PAGE),
    "PENDING": ("#30363d", DARK_TEXT),
    "SCHEDULED": ("#1d4b74", DARK_TEXT),
    DEFINED: ("#21262d", DARK_TEXT),
    NOT_CREATED: (DARK_PAGE, DARK_TEXT),
}


def dark_look(status: str) -> Look:
    lk = look(status)
    fill, text = DARK_LOOKS.get(str(status), (lk.fill, lk.text))
    return Look(fill, text, lk.symbol, lk.label)


#: statuses after which nothing changes any more (a page showing only these stops polling)
TERMINAL = frozenset(s.value for s in (*RUN_TERMINAL, *STEP_TERMINAL, *ATTEMPT_TERMINAL))

#: the statuses of a step that has ended badly (what the grid and the DAG call out)
BAD = frozenset({"FAILED", "TIMED_OUT", "UPSTREAM_FAILED", "STOPPED", "LOST"})


def look(status: str) -> Look:
    return LOOKS.get(str(status), UNKNOWN)


def is_terminal(status: str) -> bool:
    return str(status) in TERMINAL


def status_css() -> str:
    """``.st-FAILED { … }`` rules for every status (``/static/status.css``), and the dark
    scheme's: the same classes, and the fills of the SVG drawings (whose nodes, bars and
    chart columns carry ``data-status``; CSS outranks their ``fill`` attributes)."""
    rules = [f".st-{name}{{background:{lk.fill};color:{lk.text}}}" for name, lk in LOOKS.items()]
    dark = []
    for name, (fill, text) in DARK_LOOKS.items():
        dark += [
            f".st-{name}{{background:{fill};color:{text}}}",
            f'[data-status="{name}"]>rect,rect[data-status="{name}"]{{fill:{fill}}}',
            f'[data-status="{name}"]>text{{fill:{text}}}',
        ]
    # a DAG node's border: grey, and light (instead of near-black) for a step that ended badly
    dark.append("svg.dag .dag-node>rect{stroke:#8b949e}")
    dark += [f'svg.dag .dag-node[data-status="{name}"]>rect{{stroke:#f0f6fc}}' for name in BAD]
    return "\n".join([*rules, "@media (prefers-color-scheme: dark) {", *dark, "}"])


def legend(statuses: tuple[str, ...]) -> list[tuple[str, Look]]:
    return [(s, look(s)) for s in statuses]


STEP_LEGEND = tuple(s.value for s in StepStatus)
RUN_LEGEND = tuple(s.value for s in RunStatus)
