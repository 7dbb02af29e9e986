"""A JSON log line carries the trace: lines a worker logs while it runs an attempt name the
attempt's span (``trace_id``/``span_id``, from its TRACEPARENT), so that a log line in Loki or
Elasticsearch leads to the run's trace; without traces, lines carry no ids."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from maestro.log_format import JsonFormatter, trace_context
from tests.engine.harness import Harness
from tests.support.otlp import Span
from tests.traces.conftest import Traced

ONE = "id: one\nowner: t\nsteps:\n  - {id: a, type: shell, shell: {command: 'true'}}\n"


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def lines() -> Iterator[Lines]:
    handler = Lines()
    executor = logging.getLogger("workers.executor")
    level = executor.level
    executor.addHandler(handler)
    executor.setLevel(logging.DEBUG)
    yield handler
    executor.removeHandler(handler)
    executor.setLevel(level)


@pytest.mark.parametrize("traced", ["memory"], indirect=True)
def test_a_workers_lines_about_an_attempt_name_its_span(traced: Traced, lines: Lines) -> None:
    traced.harness.drain(traced.harness.start(ONE))
    tree = traced.tree()
    (run,) = tree.roots()
    attempt: Span = tree.one(tree.one(run, "step a"), "attempt a")
    about = [line for line in lines.lines if line.get("step_id") == "a"]
    assert [line["message"] for line in about] == ["attempt started", "attempt ended"]
    for line in about:
        assert line["trace_id"] == f"{attempt.trace_id:032x}"
        assert line["span_id"] == f"{attempt.span_id:016x}"
    assert about[-1]["status"] == "SUCCEEDED"


def test_without_traces_lines_carry_no_ids(harness: Harness, lines: Lines) -> None:
    harness.drain(harness.start(ONE))
    assert lines.lines and not any("trace_id" in line for line in lines.lines)


def test_the_ids_are_those_of_the_traceparent_and_only_inside_the_block() -> None:
    formatter = JsonFormatter()
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with trace_context(parent):
        inside = json.loads(formatter.format(record))
    assert inside["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert inside["span_id"] == "b7ad6b7169203331"
    assert "trace_id" not in json.loads(formatter.format(record))
    with trace_context("garbage"):
        assert "trace_id" not in json.loads(formatter.format(record))
