"""Each channel against a real server on loopback: an HTTP receiver for webhooks and Slack, an
SMTP server (aiosmtpd) with a login for email, a module on disk for Python. What is permanent
and what is worth another try; no secret in any message."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


def test_an_unknown_channel_is_permanent() -> None:
    with pytest.raises(DeliveryError) as failed:
        send("pager", {})
    assert failed.value.permanent and str(failed.value) == "unknown channel 'pager'"


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


class Echo:
    """An HTTP server that answers every request ``status`` with ``body``, where ``{request}``
    stands for what it received (its path and headers), as some receivers do."""

    def __init__(self, status: int, body: str) -> None:
        echo = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                request = f"{self.path} {dict(self.headers.items())}"
                answer = echo.body.replace("{request}", request).encode()
                self.send_response(echo.status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.status, self.body = status, body
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def echo() -> Iterator[Echo]:
    server = Echo(400, "bad request: {request}")
    yield server
    server.close()


def test_an_answer_is_quoted_without_the_requests_secrets(echo: Echo) -> None:
    url = echo.url.replace("//", "//bob:hunter2@") + "/x?access_token=t0k3n&team=data"
    headers = {"Authorization": "Bearer b34r3r", "X-Team": "data"}
    with pytest.raises(DeliveryError) as failed:
        send("webhook", {"url": url, "headers": headers})
    message = str(failed.value)
    assert failed.value.permanent
    assert message.startswith(f"webhook: POST {echo.url}/x?… answered 400 (bad request: /x?")
    for secret in ("hunter2", "t0k3n", "b34r3r"):
        assert secret not in message


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


@pytest.mark.parametrize(
    ("body", "shown"),
    [("no_service", "slack: the webhook answered 404 (no_service)"), ("{request}", None)],
)
def test_of_a_slack_answer_only_its_error_code_is_shown(
    echo: Echo, body: str, shown: str | None
) -> None:
    echo.status, echo.body = 404, body
    secret = echo.url + "/services/T000/B000/s3cr3t"
    with pytest.raises(DeliveryError) as failed:
        send("slack", {"connection": "team"}, connections=lambda _n: secret)
    assert failed.value.permanent
    assert str(failed.value) == (shown or "slack: the webhook answered 404")


def test_slack_unreachable_is_worth_another_try_and_hides_the_url() -> None:
    secret = f"http://127.0.0.1:{free_port()}/services/T000/B000/s3cr3t"
    with pytest.raises(DeliveryError) as failed:
        send("slack", {"connection": "team"}, connections=lambda _n: secret)
    assert not failed.value.permanent
    assert str(failed.value) == "slack: the webhook could not be reached (ConnectError)"


def test_an_unknown_connection_is_permanent_and_named() -> None:
    with pytest.raises(DeliveryError) as failed:
        send("slack", {"connection": "team"})
    assert failed.value.permanent and "unknown connection 'team'" in str(failed.value)


# -- email ---------------------------------------------------------------------------------


class Inbox:
    """Refuses recipients ``gone@…`` for good (550) and ``busy@…`` for now (450)."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []
        self.logins: list[bytes] = []

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address.startswith("gone@"):
            return "550 5.1.1 no such user"
        if address.startswith("busy@"):
            return "450 4.2.1 mailbox busy"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"

    def authenticator(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth: Any
    ) -> Any:
        """``ops`` / ``p@ss w0rd`` logs in; ``later`` is told to come back (454)."""
        assert isinstance(auth, LoginPassword)
        self.logins.append(auth.login)
        if auth.login == b"later":
            return AuthResult(success=False, handled=False, message="454 4.7.0 try again later")
        ok = (auth.login, auth.password) == (b"ops", b"p@ss w0rd")
        return AuthResult(success=ok, handled=False)


def smtp_server(inbox: Inbox, tls: ssl.SSLContext | None = None) -> tuple[Controller, int]:
    port = free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=inbox.authenticator,
        auth_require_tls=False,
        ssl_context=tls,
    )
    controller.start()
    return controller, port


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    controller, port = smtp_server(inbox)
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


def test_a_login_refused_for_now_is_worth_another_try(smtp: tuple[Inbox, int]) -> None:
    url = f"smtp://later:pw@127.0.0.1:{smtp[1]}"
    with pytest.raises(DeliveryError) as failed:
        send("email", {"connection": "mail", "to": ["a@b.c"]}, connections=lambda _n: url)
    assert not failed.value.permanent and "454" in str(failed.value)


@pytest.mark.parametrize(
    ("to", "permanent", "said"),
    [
        (["gone@example.com"], True, "refused every recipient (550)"),
        (["busy@example.com"], False, "refused every recipient (450)"),
        (["a@example.com", "gone@example.com"], True, "sent, but 127.0.0.1"),
    ],
)
def test_refused_recipients(
    smtp: tuple[Inbox, int], to: list[str], permanent: bool, said: str
) -> None:
    url = f"smtp://ops:p%40ss%20w0rd@127.0.0.1:{smtp[1]}"
    with pytest.raises(DeliveryError) as failed:
        send("email", {"connection": "mail", "to": to}, connections=lambda _n: url)
    assert failed.value.permanent is permanent and said in str(failed.value)
    assert [recipients for recipients, _ in smtp[0].messages] == [to[:1]] * (len(to) - 1)


def test_a_rendered_header_cannot_inject_another(smtp: tuple[Inbox, int]) -> None:
    url = f"smtp://ops:p%40ss%20w0rd@127.0.0.1:{smtp[1]}"
    settings = {"connection": "mail", "to": ["a@example.com\nBcc: evil@example.com"]}
    with pytest.raises(DeliveryError) as failed:
        send("email", settings, connections=lambda _n: url)
    assert failed.value.permanent and "cannot be written" in str(failed.value)
    assert smtp[0].messages == [] and smtp[0].logins == []


def test_a_subject_with_line_breaks_is_one_line(smtp: tuple[Inbox, int]) -> None:
    url = f"smtp://ops:p%40ss%20w0rd@127.0.0.1:{smtp[1]}"
    settings = {"connection": "mail", "to": ["a@example.com"], "subject": "etl failed:\r\n  boom"}
    send("email", settings, connections=lambda _n: url)
    ((_, message),) = smtp[0].messages
    assert message["Subject"] == "etl failed: boom"
    assert message["Message-ID"] == f"<{PAYLOAD['id']}@maestro>"


@pytest.fixture
def certificate(tmp_path: Path) -> Path:
    """A self-signed certificate (and its key, in the same file) for 127.0.0.1."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    pem = tmp_path / "server.pem"
    new = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    subject = ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
    subprocess.run(
        ["openssl", *new, *subject, "-keyout", str(pem), "-out", str(pem)],
        check=True,
        capture_output=True,
    )
    return pem


@pytest.fixture
def smtps(certificate: Path) -> Iterator[tuple[Inbox, int]]:
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(certificate)
    inbox = Inbox()
    controller, port = smtp_server(inbox, tls)
    yield inbox, port
    controller.stop()


def test_smtps_logs_in_only_to_a_server_whose_certificate_it_trusts(
    smtps: tuple[Inbox, int], certificate: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox, port = smtps
    url = f"smtps://ops:p%40ss%20w0rd@127.0.0.1:{port}"
    settings = {"connection": "mail", "to": ["a@example.com"]}
    with pytest.raises(DeliveryError) as failed:
        send("email", settings, connections=lambda _n: url)
    assert not failed.value.permanent
    assert str(failed.value) == (
        f"email: 127.0.0.1:{port}'s certificate is not trusted (self-signed certificate)"
    )
    assert inbox.logins == [] and inbox.messages == []

    monkeypatch.setenv("SSL_CERT_FILE", str(certificate))  # a private CA, as an operator would
    send("email", settings, connections=lambda _n: url)
    assert inbox.logins == [b"ops"] and len(inbox.messages) == 1


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


@pytest.mark.parametrize(
    ("target", "said"),
    [
        ("no_such_module_here:page", "ModuleNotFoundError"),
        ("hooks_found:missing", "AttributeError"),
        ("hooks_found:VALUE", "TypeError: hooks_found:VALUE is not callable"),
    ],
)
def test_a_callable_that_cannot_be_found_is_permanent(
    tmp_path: Path, target: str, said: str
) -> None:
    (tmp_path / "hooks_found.py").write_text("VALUE = 3\n")
    with pytest.raises(DeliveryError) as failed:
        send("python", {"callable": target}, project_dir=tmp_path)
    assert failed.value.permanent and said in str(failed.value)


def test_a_callable_that_exits_failed_this_try(tmp_path: Path) -> None:
    (tmp_path / "hooks_exit.py").write_text("import sys\ndef page(alert):\n    sys.exit(3)\n")
    with pytest.raises(DeliveryError) as failed:
        send("python", {"callable": "hooks_exit:page"}, project_dir=tmp_path)
    assert not failed.value.permanent and str(failed.value).endswith("raised SystemExit: 3")


def test_a_callable_that_hangs_is_given_up_on_after_the_timeout(tmp_path: Path) -> None:
    (tmp_path / "hooks_hang.py").write_text(
        "import threading\nrelease = threading.Event()\ndef page(alert):\n    release.wait(10)\n"
    )
    started = time.monotonic()
    with pytest.raises(DeliveryError) as failed:
        send("python", {"callable": "hooks_hang:page"}, project_dir=tmp_path, timeout=0.5)
    assert time.monotonic() - started < 2
    assert not failed.value.permanent
    assert str(failed.value) == "python: hooks_hang:page did not return within 0.5 s"
    import hooks_hang  # type: ignore[import-not-found]

    hooks_hang.release.set()


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
