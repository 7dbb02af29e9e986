"""Each channel against a real server on loopback: an HTTP receiver for webhooks and Slack, an
SMTP server (aiosmtpd) with a login for email, a module on disk for Python. What is permanent
and what is worth another try; no secret in any message."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from maestro.alerts.channels import DeliveryError, deliver
from maestro.connections import ConnectionLookupError
from tests.support.cluster import free_port
from tests.support.receiver import Receiver

PAYLOAD = {
    "id": "5b0f2c1e-0000-4000-8000-000000000001",
    "event": "run_failed",
    "workflow_id": "etl",
    "run_id": 42,
    "run_number": 7,
    "step_id": None,
    "status": "FAILED",
    "error": "load: command exited with code 3 <&>",
    "logical_date": "2026-11-28T00:00:00Z",
    "at": "2026-11-28T06:00:01Z",
    "url": "http://127.0.0.1:8080/runs/42",
}


def no_connections(name: str) -> str:
    raise ConnectionLookupError(f"unknown connection {name!r}: looked in MAESTRO_CONN_X")


def send(channel: str, settings: dict[str, Any], **kwargs: Any) -> None:
    kwargs.setdefault("connections", no_connections)
    deliver(channel, settings, PAYLOAD, timeout=kwargs.pop("timeout", 2), **kwargs)


# -- webhook -------------------------------------------------------------------------------


def test_a_webhook_gets_the_payload_with_its_headers_and_the_idempotency_key(
    receiver: Receiver,
) -> None:
    send("webhook", {"url": receiver.url, "headers": {"X-Team": "data"}, "message": "hi"})
    (got,) = receiver.received
    assert got.method == "POST" and got.path == "/hook"
    assert got.body == {**PAYLOAD, "message": "hi"}
    assert got.headers["Idempotency-Key"] == PAYLOAD["id"]
    assert got.headers["X-Team"] == "data"
    assert got.headers["Content-Type"] == "application/json"


def test_a_webhook_header_cannot_replace_the_idempotency_key(receiver: Receiver) -> None:
    send("webhook", {"url": receiver.url, "headers": {"Idempotency-Key": "mine"}, "method": "PUT"})
    (got,) = receiver.received
    assert got.method == "PUT" and got.headers["Idempotency-Key"] == PAYLOAD["id"]


@pytest.mark.parametrize(
    ("status", "permanent"), [(500, False), (503, False), (429, False), (404, True), (400, True)]
)
def test_what_an_answer_means(receiver: Receiver, status: int, permanent: bool) -> None:
    receiver.answers = [status]
    with pytest.raises(DeliveryError) as failed:
        send("webhook", {"url": receiver.url + "?token=abc"})
    assert failed.value.permanent is permanent
    assert str(status) in str(failed.value)
    assert "abc" not in str(failed.value)  # query values are not shown


def test_a_receiver_that_is_down_is_worth_another_try() -> None:
    with pytest.raises(DeliveryError) as failed:
        send("webhook", {"url": f"http://127.0.0.1:{free_port()}/hook"})
    assert not failed.value.permanent and "could not be reached" in str(failed.value)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield f"http://127.0.0.1:{server.getsockname()[1]}/hook"
    server.close()


def test_a_receiver_that_does_not_answer_in_time_is_worth_another_try(silent_server: str) -> None:
    started = time.monotonic()
    with pytest.raises(DeliveryError) as failed:
        send("webhook", {"url": silent_server}, timeout=0.5)
    assert time.monotonic() - started < 5
    assert not failed.value.permanent and "within 0.5 s" in str(failed.value)


def test_a_url_that_is_no_http_url_is_permanent() -> None:
    with pytest.raises(DeliveryError) as failed:
        send("webhook", {"url": "ftp://example.com/x"})
    assert failed.value.permanent


# -- slack ---------------------------------------------------------------------------------


def test_slack_gets_text_and_blocks_at_the_connections_url(receiver: Receiver) -> None:
    secret = receiver.url + "/T000/B000/s3cr3t"
    send("slack", {"connection": "team", "channel": "#oncall"}, connections=lambda _n: secret)
    (got,) = receiver.received
    assert got.path == "/hook/T000/B000/s3cr3t"
    assert got.headers["Idempotency-Key"] == PAYLOAD["id"]
    body = got.body
    assert body["channel"] == "#oncall"
    assert body["text"] == "run_failed: etl run #7 is FAILED"
    blocks = str(body["blocks"])
    assert "<http://127.0.0.1:8080/runs/42|#7>" in blocks  # a link to the run
    assert "code 3 &lt;&amp;&gt;" in blocks  # Slack's control characters escaped


def test_slack_errors_never_show_the_webhook_url(receiver: Receiver) -> None:
    receiver.answers = [403]
    secret = receiver.url + "/T000/B000/s3cr3t"
    with pytest.raises(DeliveryError) as failed:
        send("slack", {"connection": "team", "message": "x"}, connections=lambda _n: secret)
    assert failed.value.permanent and "403" in str(failed.value)
    assert "s3cr3t" not in str(failed.value) and "T000" not in str(failed.value)


def test_an_unknown_connection_is_permanent_and_named() -> None:
    with pytest.raises(DeliveryError) as failed:
        send("slack", {"connection": "team"})
    assert failed.value.permanent and "unknown connection 'team'" in str(failed.value)


# -- email ---------------------------------------------------------------------------------


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"


def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth: Any) -> Any:
    ok = isinstance(auth, LoginPassword) and (auth.login, auth.password) == (b"ops", b"p@ss w0rd")
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticator,
        auth_require_tls=False,
    )
    controller.start()
    yield inbox, port
    controller.stop()


def test_an_email_is_sent_with_a_login_in_text_and_html(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    url = f"smtp://ops:p%40ss%20w0rd@127.0.0.1:{port}"
    settings = {"connection": "mail", "to": ["a@example.com", "b@example.com"], "from": "m@x.io"}
    send("email", settings, connections=lambda _n: url)
    ((recipients, message),) = inbox.messages
    assert recipients == ["a@example.com", "b@example.com"]
    assert message["Subject"] == "[maestro] run_failed: etl run 7"
    assert message["From"] == "m@x.io"
    assert message["X-Maestro-Alert-Id"] == PAYLOAD["id"]
    parts = {part.get_content_type(): part.get_payload(decode=True) for part in message.walk()}
    assert b"run_failed: etl run #7 is FAILED" in parts["text/plain"]
    assert b"code 3 &lt;&amp;&gt;" in parts["text/html"]  # escaped in HTML
    assert b"http://127.0.0.1:8080/runs/42" in parts["text/plain"]


def test_a_refused_login_is_permanent_and_hides_the_password(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    url = f"smtp://ops:Wr0ngSecret@127.0.0.1:{port}"
    with pytest.raises(DeliveryError) as failed:
        send("email", {"connection": "mail", "to": ["a@b.c"]}, connections=lambda _n: url)
    assert failed.value.permanent and "535" in str(failed.value)
    assert "Wr0ngSecret" not in str(failed.value)
    assert inbox.messages == []


def test_an_smtp_server_that_is_down_is_worth_another_try() -> None:
    url = f"smtp://ops:pw@127.0.0.1:{free_port()}"
    with pytest.raises(DeliveryError) as failed:
        send("email", {"connection": "mail", "to": ["a@b.c"]}, connections=lambda _n: url)
    assert not failed.value.permanent and "cannot reach" in str(failed.value)


def test_a_connection_that_is_no_smtp_url_is_permanent() -> None:
    with pytest.raises(DeliveryError) as failed:
        send("email", {"connection": "m", "to": ["a@b.c"]}, connections=lambda _n: "http://x")
    assert failed.value.permanent


# -- python --------------------------------------------------------------------------------


def test_a_python_callable_gets_the_payload(tmp_path: Path) -> None:
    (tmp_path / "hooks_ok.py").write_text(
        "received = []\ndef page(alert):\n    received.append(alert)\n"
    )
    send("python", {"callable": "hooks_ok:page"}, project_dir=tmp_path)
    import hooks_ok  # type: ignore[import-not-found]

    assert hooks_ok.received == [PAYLOAD]


def test_a_raising_callable_failed_this_try(tmp_path: Path) -> None:
    (tmp_path / "hooks_raise.py").write_text(
        "def page(alert):\n    raise RuntimeError('pager is down')\n"
    )
    with pytest.raises(DeliveryError) as failed:
        send("python", {"callable": "hooks_raise:page"}, project_dir=tmp_path)
    assert not failed.value.permanent
    assert "RuntimeError: pager is down" in str(failed.value)


def test_a_callable_that_cannot_be_found_is_permanent(tmp_path: Path) -> None:
    with pytest.raises(DeliveryError) as failed:
        send("python", {"callable": "no_such_module_here:page"}, project_dir=tmp_path)
    assert failed.value.permanent and "ModuleNotFoundError" in str(failed.value)


def test_callables_may_be_called_from_several_threads(tmp_path: Path) -> None:
    (tmp_path / "hooks_many.py").write_text("def page(alert):\n    pass\n")
    errors: list[Exception] = []

    def one() -> None:
        try:
            send("python", {"callable": "hooks_many:page"}, project_dir=tmp_path)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
