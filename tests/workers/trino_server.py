"""A small HTTP server speaking Trino's client protocol, for testing against the real client.

No Trino can be installed here, so the sql runtime's Trino path is tested against this: the real
``trino`` package (DBAPI and SQLAlchemy dialect) talks HTTP to it exactly as to a coordinator.

The protocol, as much as the client uses:

* ``POST /v1/statement`` with the SQL as the body → ``{id, infoUri, nextUri, stats}``;
* ``GET nextUri`` → the next page: ``columns`` (with ``typeSignature``), ``data``, and a further
  ``nextUri`` until the last page, which has none (state ``FINISHED``); an update statement
  also carries ``updateType`` and ``updateCount``; a failed query carries ``error``;
* ``DELETE nextUri`` → 204: the query is cancelled;
* ``DELETE /v1/query/{id}`` (the REST API, not the client protocol) → 204: the query is
  killed (404 for an unknown id).

What a statement answers is decided by the test: ``server.script(match, Reply)`` — the first
script whose ``match`` occurs in the SQL wins. Anything else (the dialect's own
``SELECT version()``, ``EXECUTE IMMEDIATE 'SELECT 1'`` probes) gets a one-row canned answer.
A ``Reply(slow=True)`` never finishes: it stays RUNNING, page after page, until cancelled.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_QUERY = re.compile(r"^/v1/query/(?P<qid>[^/]+)$")
_PAGE = re.compile(r"^/v1/statement/executing/(?P<qid>[^/]+)/(?P<slug>[^/]+)/(?P<token>\d+)$")
_TYPE = re.compile(r"^(?P<raw>[a-z ]+?)(?:\((?P<args>[^)]*)\))?$")


@dataclass
class Reply:
    """What a statement returns."""

    columns: list[tuple[str, str]] = field(default_factory=lambda: [("_col0", "integer")])
    rows: list[list[Any]] = field(default_factory=lambda: [[1]])
    #: rows per page of ``data``
    page_size: int = 2
    update_type: str | None = None
    error: str | None = None
    slow: bool = False


@dataclass
class Query:
    id: str
    sql: str
    reply: Reply
    user: str | None
    polls: int = 0
    cancelled: bool = False


class FakeTrino:
    """A fake coordinator on 127.0.0.1 with an OS-chosen port, served by a thread."""

    def __init__(self) -> None:
        self.queries: list[Query] = []
        self.deletes: list[str] = []
        #: query ids killed through ``DELETE /v1/query/{id}`` (the REST API), in order
        self.killed: list[str] = []
        #: everything asked, in order: ("POST", sql) and ("KILL", query id)
        self.log: list[tuple[str, str]] = []
        self._scripts: list[tuple[str, Reply]] = []
        self._lock = threading.Lock()
        self.started_slow = threading.Event()
        self.cancelled = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeTrino:
        self._thread.start()
        return self

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def script(self, match: str, reply: Reply) -> None:
        self._scripts.append((match, reply))

    def queries_matching(self, text: str) -> list[Query]:
        with self._lock:
            return [q for q in self.queries if text in q.sql]

    # -- protocol ------------------------------------------------------------------------------

    def kill(self, qid: str) -> bool:
        """``DELETE /v1/query/{id}``: the query is killed (False: no such query)."""
        with self._lock:
            self.log.append(("KILL", qid))
            query = next((q for q in self.queries if q.id == qid), None)
            self.killed.append(qid)
        if query is None:
            return False
        query.cancelled = True
        self.cancelled.set()
        return True

    def post(self, sql: str, user: str | None) -> dict[str, Any]:
        with self._lock:
            self.log.append(("POST", sql))
        reply = next((r for m, r in self._scripts if m in sql), None)
        if reply is None:
            reply = Reply(columns=[("_col0", "varchar")], rows=[["fake-trino"]])
        with self._lock:
            query = Query(f"20260101_000000_{len(self.queries):05d}_fake0", sql, reply, user)
            self.queries.append(query)
        if reply.slow:
            self.started_slow.set()
        return self._status(query, token=0, state="QUEUED")

    def page(self, qid: str, token: int) -> dict[str, Any]:
        query = self._query(qid)
        query.polls += 1
        if query.cancelled:
            return self._failed(query, "Query was canceled", "USER_CANCELED")
        reply = query.reply
        if reply.error is not None:
            return self._failed(query, reply.error, "SYNTAX_ERROR")
        if reply.slow:
            threading.Event().wait(0.02)  # a coordinator long-polls; keep the client from spinning
            return self._status(query, token, state="RUNNING")
        return self._data_page(query, token)

    def delete(self, qid: str) -> None:
        query = self._query(qid)
        query.cancelled = True
        with self._lock:
            self.deletes.append(qid)
        self.cancelled.set()

    def _data_page(self, query: Query, token: int) -> dict[str, Any]:
        reply = query.reply
        rows = reply.rows
        if reply.update_type is not None:
            rows = [[len(reply.rows)]]
        start = (token - 1) * reply.page_size
        chunk = rows[start : start + reply.page_size]
        last = start + reply.page_size >= len(rows)
        body = self._status(query, token, state="FINISHED" if last else "RUNNING", last=last)
        body["columns"] = _columns(reply)
        body["data"] = chunk
        if reply.update_type is not None:
            body["updateType"] = reply.update_type
            body["updateCount"] = len(reply.rows)
        return body

    def _status(
        self, query: Query, token: int, *, state: str, last: bool = False
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": query.id,
            "infoUri": f"{self.base}/ui/query.html?{query.id}",
            "stats": {"state": state, "queued": state == "QUEUED", "scheduled": True},
        }
        if not last:
            body["nextUri"] = f"{self.base}/v1/statement/executing/{query.id}/y/{token + 1}"
        return body

    def _failed(self, query: Query, message: str, name: str) -> dict[str, Any]:
        body = self._status(query, 0, state="FAILED", last=True)
        body["error"] = {
            "message": message,
            "errorCode": 1,
            "errorName": name,
            "errorType": "USER_ERROR",
            "failureInfo": {"type": "io.trino.spi.TrinoException", "message": message},
        }
        return body

    def _query(self, qid: str) -> Query:
        with self._lock:
            return next(q for q in self.queries if q.id == qid)


def _columns(reply: Reply) -> list[dict[str, Any]]:
    return [
        {"name": name, "type": kind, "typeSignature": _signature(kind)}
        for name, kind in reply.columns
    ]


def _signature(kind: str) -> dict[str, Any]:
    match = _TYPE.match(kind)
    assert match is not None, kind
    raw, given = match.group("raw"), match.group("args")
    if given is None and raw == "varchar":
        given = "2147483647"  # what Trino sends for an unbounded varchar
    args = [{"kind": "LONG", "value": int(a)} for a in (given or "").split(",") if a]
    return {"rawType": raw, "arguments": args}


def _handler(server: FakeTrino) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            sql = self.rfile.read(length).decode("utf-8")
            if self.path != "/v1/statement":
                self._send(404, {"message": "not found"})
                return
            self._send(200, server.post(sql, self.headers.get("X-Trino-User")))

        def do_GET(self) -> None:
            match = _PAGE.match(self.path)
            if match is None:
                self._send(404, {"message": "not found"})
                return
            self._send(200, server.page(match.group("qid"), int(match.group("token"))))

        def do_DELETE(self) -> None:
            killed = _QUERY.match(self.path)
            if killed is not None:
                found = server.kill(killed.group("qid"))
                self.send_response(204 if found else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            match = _PAGE.match(self.path)
            if match is None:
                self._send(404, {"message": "not found"})
                return
            server.delete(match.group("qid"))
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
