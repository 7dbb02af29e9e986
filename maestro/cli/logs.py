"""Step output on the embedded store: ``maestro run`` streams it live, ``maestro logs`` prints it.

Each line is prefixed with the step it came from (``greet | hello, world``), the way
``docker compose up`` prefixes its services; steps of foreach iterations and subworkflows are
labelled ``loop[3].step`` and ``child.step``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text
from sqlalchemy import Connection

from maestro.cli.common import app, err, fail, open_store
from maestro.errors import NotFound
from maestro.reads import LogSource, attempt_log, require_run, run_tree_logs, step_detail
from maestro.settings import load_settings

#: one colour per label, in the order labels appear
PALETTE = ("cyan", "magenta", "green", "yellow", "blue", "bright_red", "bright_cyan")
#: bytes read from one log per poll (a step that prints fast never stalls the others)
CHUNK = 1 << 16
#: lines of a failed step shown after the summary
TAIL_LINES = 20


@dataclass
class _Open:
    source: LogSource
    offset: int = 0
    partial: bytes = b""


@dataclass
class LogFollower:
    """Reads what every attempt of a run tree has appended to its log since the last poll and
    hands out complete lines (a last line without newline comes out with ``flush``)."""

    emit: Callable[[str, str], None]
    _logs: list[_Open] = field(default_factory=list)
    _known: set[int] = field(default_factory=set)
    #: every attempt up to this id is known and claimed: the next poll asks for those after it
    _floor: int = 0
    #: run id → the prefix of its steps' labels (``tables[1].``), read once per run
    _labels: dict[int, str] = field(default_factory=dict)

    def add(self, source: LogSource) -> None:
        if source.log_path is not None and source.attempt_id not in self._known:
            self._known.add(source.attempt_id)
            self._logs.append(_Open(source))

    def poll(self, conn: Connection, run_id: int) -> None:
        sources = run_tree_logs(conn, run_id, after_attempt=self._floor, labels=self._labels)
        for source in sources:
            self.add(source)
        # attempts are claimed out of order: one not claimed yet is asked for again next time
        unclaimed = [s.attempt_id for s in sources if s.log_path is None]
        if unclaimed:
            self._floor = min(unclaimed) - 1
        elif sources:
            self._floor = sources[-1].attempt_id
        for log in self._logs:
            self._read(log)

    def flush(self) -> None:
        for log in self._logs:
            self._read(log)
            if log.partial:
                self.emit(log.source.label, log.partial.decode(errors="replace"))
                log.partial = b""

    def _read(self, log: _Open) -> None:
        assert log.source.log_path is not None  # only claimed attempts are added
        try:
            with open(log.source.log_path, "rb") as f:
                f.seek(log.offset)
                data = f.read(CHUNK)
        except FileNotFoundError:  # created on the step's first write
            return
        log.offset += len(data)
        *lines, log.partial = (log.partial + data).split(b"\n")
        for line in lines:
            self.emit(log.source.label, line.decode(errors="replace").rstrip("\r"))


@dataclass
class LinePrinter:
    """``label | line`` with a colour per label and labels padded to the widest so far."""

    console: Console
    _colours: dict[str, str] = field(default_factory=dict)
    _width: int = 0

    def __call__(self, label: str, line: str) -> None:
        colour = self._colours.setdefault(label, PALETTE[len(self._colours) % len(PALETTE)])
        self._width = max(self._width, len(label))
        text = Text(f"{label:<{self._width}} | ", style=colour)
        text.append(line)
        self.console.print(text, soft_wrap=True, highlight=False, markup=False)


def tail(path: str | None, lines: int = TAIL_LINES) -> list[str]:
    """The last ``lines`` lines of a log (empty when the step never wrote one)."""
    if not path:
        return []
    try:
        with open(path, "rb") as f:
            return [line.decode(errors="replace").rstrip("\r\n") for line in deque(f, maxlen=lines)]
    except FileNotFoundError:
        return []


def _print_file(path: str | None) -> None:
    if path and Path(path).exists():
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                typer.echo(chunk, nl=False)


def _one_step(conn: Connection, run_id: int, step_id: str, attempt: int | None) -> str | None:
    """The log of ``step_id``'s attempt (the latest by default): a step of the run, or one
    below it by the label ``maestro run`` prints (``tables[1].parts[0].touch``)."""
    if "." in step_id or "[" in step_id:
        return _labelled(conn, run_id, step_id, attempt)
    if attempt is None:
        attempts = step_detail(conn, run_id, step_id).attempts
        if not attempts:
            inner = [
                s.label
                for s in run_tree_logs(conn, run_id)
                if s.label.startswith((f"{step_id}[", f"{step_id}."))
            ]
            if inner:  # a foreach, while or subworkflow step: its child runs have the logs
                fail(
                    f"step {step_id!r} of run {run_id} runs other runs; their steps have the "
                    f"logs: {', '.join(dict.fromkeys(inner[:3]))}"
                    + (", …" if len(set(inner)) > 3 else ""),
                    code=1,
                )
            fail(f"step {step_id!r} of run {run_id} has not started an attempt yet", code=1)
        attempt = attempts[-1].number
    return attempt_log(conn, run_id, step_id, attempt).log_path


def _labelled(conn: Connection, run_id: int, label: str, attempt: int | None) -> str | None:
    require_run(conn, run_id)
    sources = [s for s in run_tree_logs(conn, run_id) if s.label == label]
    if not sources:
        fail(
            f"run {run_id} has no step {label!r} (a step below it is named as `maestro run`"
            " prints it: loop[0].step)",
            code=1,
        )
    if attempt is not None:
        sources = [s for s in sources if s.attempt == attempt]
        if not sources:
            fail(f"step {label!r} of run {run_id} has no attempt {attempt}", code=1)
    return sources[-1].log_path


@app.command()
def logs(
    run_id: Annotated[int, typer.Argument(help="The run's id (maestro run prints it).")],
    step: Annotated[
        str | None, typer.Argument(help="Only this step's log, without prefixes.")
    ] = None,
    attempt: Annotated[
        int | None, typer.Option(help="With STEP: this attempt (default: the latest).")
    ] = None,
) -> None:
    """Print the step logs of a run on the embedded store ($MAESTRO_HOME; no server needed).

    Without STEP: every attempt of the run and of its child runs, in the order they started,
    each line prefixed with its step. With STEP: that step's latest attempt as written.
    For a run on a server, use `maestro runs logs`.
    """
    if attempt is not None and step is None:
        fail("--attempt needs a STEP")
    db = open_store(load_settings())
    try:
        with db.read() as conn:
            if step is not None:
                _print_file(_one_step(conn, run_id, step, attempt))
                return
            require_run(conn, run_id)
            sources = [s for s in run_tree_logs(conn, run_id) if s.log_path is not None]
    except NotFound as exc:
        fail(exc.message, code=1)
    finally:
        db.dispose()
    if not sources:
        err.print(f"run {run_id}: no step has written to its log", highlight=False)
    printer = LinePrinter(Console())
    for source in sources:
        if source.attempt > 1:
            printer(source.label, f"--- attempt {source.attempt}")
        follower = LogFollower(printer)  # one at a time: each log whole, in attempt order
        follower.add(source)
        follower.flush()
