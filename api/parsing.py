"""Definitions parsed for the API without stalling it.

Parsing and validating YAML is pure Python. A small body takes milliseconds and is parsed in a
worker thread. A large one (up to the 1 MiB body limit, maps just under the key cap) takes
seconds, and a thread would still hold the interpreter lock that the event loop needs: every
other request, ``/healthz`` included, would answer in hundreds of milliseconds meanwhile. So a
large body is parsed in a process of its own (one, started on first use, from a forkserver so
that it inherits none of the server's threads), and a parse that overruns ``timeout`` is
killed with that process rather than left to burn a core.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
from multiprocessing.pool import Pool
from typing import Any

import anyio
import anyio.to_thread

from maestro.definition import WorkflowDefinition, load_definition
from maestro.errors import DefinitionError, Problem

#: bodies up to this size are parsed in a thread (fast enough not to matter)
IN_THREAD_BYTES = 64 * 1024
#: longest a definition may take to parse and validate in a request, in seconds
PARSE_SECONDS = 10.0
SOURCE = "request body"


def _parse(body: bytes) -> tuple[str, Any]:
    """In the parsing process: the definition, or the problems (exceptions with custom
    constructors do not survive pickling)."""
    try:
        return "ok", load_definition(body, source=SOURCE)
    except DefinitionError as exc:
        return "invalid", [(p.loc, p.msg) for p in exc.problems]


class DefinitionParser:
    """One per app: ``await parser.parse(body)`` gives a definition or raises
    ``DefinitionError`` (a parse over ``timeout`` seconds is one too)."""

    def __init__(self, timeout: float = PARSE_SECONDS) -> None:
        self.timeout = timeout
        self._pool: Pool | None = None
        self._lock = threading.Lock()

    async def parse(self, body: bytes) -> WorkflowDefinition:
        if len(body) <= IN_THREAD_BYTES:
            return await anyio.to_thread.run_sync(_load, body)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[tuple[str, Any]] = loop.create_future()

        def finished(result: tuple[str, Any]) -> None:  # in the pool's result thread
            loop.call_soon_threadsafe(_settle, done, result, None)

        def failed(error: BaseException) -> None:
            loop.call_soon_threadsafe(_settle, done, None, error)

        self._get_pool().apply_async(_parse, (body,), callback=finished, error_callback=failed)
        try:
            with anyio.fail_after(self.timeout):
                outcome, value = await done
        except TimeoutError:
            self._kill()  # the parse is still running: end it with its process
            message = f"the definition took over {self.timeout:g} s to validate"
            raise DefinitionError([Problem((), message)], SOURCE) from None
        if outcome == "ok":
            definition: WorkflowDefinition = value
            return definition
        raise DefinitionError([Problem(tuple(loc), msg) for loc, msg in value], SOURCE)

    def close(self) -> None:
        self._kill()

    def _get_pool(self) -> Pool:
        with self._lock:
            if self._pool is None:
                context = multiprocessing.get_context("forkserver")
                self._pool = context.Pool(processes=1)
            return self._pool

    def _kill(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.terminate()


def _settle(
    done: asyncio.Future[tuple[str, Any]],
    result: tuple[str, Any] | None,
    error: BaseException | None,
) -> None:
    if done.done():  # given up on (timeout) meanwhile
        return
    if error is not None:
        done.set_exception(error)
    else:
        assert result is not None
        done.set_result(result)


def _load(body: bytes) -> WorkflowDefinition:
    return load_definition(body, source=SOURCE)
