"""A time bound on rendering expressions: each render must end within ``MAX_RENDER_SECONDS``.

Why: expressions are written by whoever may submit a workflow and are evaluated in the
scheduler, the workers and — for the ``when`` of root steps — the API server handling
``POST /runs``. Size limits stop a template from building a huge value, but not from looping:
``range`` allows 100,000 items, and two nested loops are 10^10 iterations. So every top-level
``render``/``evaluate`` opens a deadline for its thread, and the sandbox checks it wherever a
template does work: each loop iteration, call, attribute lookup, operator and ``~``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

#: how long one render (a step's settings, a condition) may take, in seconds
MAX_RENDER_SECONDS = 2.0
#: loop iterations between two looks at the clock
_EVERY = 256

_state = threading.local()


class DeadlineExceeded(Exception):
    """The render ran past its deadline; the message says so."""


@contextmanager
def deadline(seconds: float | None = None) -> Iterator[None]:
    """Bound this thread's render; nested renders share the outermost deadline."""
    if getattr(_state, "deadline", None) is not None:
        yield
        return
    limit = MAX_RENDER_SECONDS if seconds is None else seconds
    _state.deadline = time.monotonic() + limit
    _state.limit = limit
    try:
        yield
    finally:
        _state.deadline = None


def check() -> None:
    """Raise ``DeadlineExceeded`` when this thread's render is past its deadline."""
    end = getattr(_state, "deadline", None)
    if end is not None and time.monotonic() > end:
        raise DeadlineExceeded(
            f"the expression took too long (over the {_state.limit:g}-second limit)"
        )


def checked_iter(items: Iterable[Any]) -> Iterator[Any]:
    """``items``, looking at the deadline every few iterations (what ``{% for %}`` loops over)."""
    for count, item in enumerate(items):
        if count % _EVERY == 0:
            check()
        yield item
