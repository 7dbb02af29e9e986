"""The email channel: a plain-text and HTML mail over SMTP.

The connection is ``smtp://user:pass@host:port`` (STARTTLS when the server offers it; port 25
unless given) or ``smtps://…`` (TLS from the start; port 465). Both verify the server's
certificate against the system's CAs (``SSL_CERT_FILE`` adds a private one): smtplib's own
default for ``SMTP_SSL`` does not, and the password is sent next. A user in the URL logs in.
The server's 250 is a delivery; a 5xx (a refused login, refused recipients) or a mail that
cannot be written (a header with a line break) is permanent, a 4xx or a network failure worth
another try. The password never appears in a message.
"""

from __future__ import annotations

import html
import smtplib
import socket
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

from maestro.alerts.errors import DeliveryError
from maestro.alerts.slack_message import summary

_FIELDS = ("workflow_id", "run_number", "status", "step_id", "error", "logical_date", "at")


def send(settings: Mapping[str, Any], payload: Mapping[str, Any], url: str, timeout: float) -> None:
    try:
        parts = urlsplit(url)
    except ValueError:  # the message would quote the URL
        parts = urlsplit("")
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise DeliveryError(
            "email: the connection is not an smtp:// or smtps:// URL with a host", permanent=True
        )
    try:
        port = parts.port or (465 if parts.scheme == "smtps" else 25)
    except ValueError:
        raise DeliveryError(
            "email: the connection's port is not a number", permanent=True
        ) from None
    where = f"{parts.hostname}:{port}"
    message = _message(settings, payload)
    try:
        refused = _transmit(parts, port, message, timeout)
    except (OSError, smtplib.SMTPException) as exc:
        raise _failure(exc, where) from None
    if refused:  # the others have it already: sending again would double theirs
        raise DeliveryError(
            f"email: sent, but {where} refused {', '.join(sorted(refused))}", permanent=True
        )


def _transmit(
    parts: SplitResult, port: int, message: EmailMessage, timeout: float
) -> dict[str, tuple[int, bytes]]:
    """One SMTP session: (START)TLS, login, the mail; returns the recipients refused."""
    host = parts.hostname or ""
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if parts.scheme == "smtps":
        smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(host, port, timeout=timeout)
    with smtp:
        if parts.scheme == "smtp":
            smtp.ehlo()
            if smtp.has_extn("starttls"):
                smtp.starttls(context=context)
                smtp.ehlo()
        if parts.username:
            smtp.login(unquote(parts.username), unquote(parts.password or ""))
        return smtp.send_message(message)


def _failure(exc: OSError | smtplib.SMTPException, where: str) -> DeliveryError:
    """What a failed session means; the server's own text is left out (it may echo a login)."""
    if isinstance(exc, smtplib.SMTPAuthenticationError):  # 535 for good, 454 for now
        return DeliveryError(
            f"email: {where} refused the login ({exc.smtp_code})", permanent=exc.smtp_code >= 500
        )
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _ in exc.recipients.values()})
        return DeliveryError(
            f"email: {where} refused every recipient ({', '.join(map(str, codes))})",
            permanent=all(code >= 500 for code in codes),
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        return DeliveryError(
            f"email: {where} answered {exc.smtp_code}", permanent=exc.smtp_code >= 500
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return DeliveryError(f"email: {where} does not support login", permanent=True)
    if isinstance(exc, ssl.SSLCertVerificationError):  # expired, or a CA not installed (yet)
        return DeliveryError(f"email: {where}'s certificate is not trusted ({exc.verify_message})")
    return DeliveryError(f"email: cannot reach {where} ({type(exc).__name__})")


def _message(settings: Mapping[str, Any], payload: Mapping[str, Any]) -> EmailMessage:
    """The mail; raises a permanent ``DeliveryError`` when a header cannot be written."""
    recipients = [str(to).strip() for to in settings.get("to") or [] if str(to).strip()]
    if not recipients:
        raise DeliveryError("email: no recipient ('to' is empty)", permanent=True)
    subject = str(
        settings.get("subject")
        or f"[maestro] {payload.get('event')}: {payload.get('workflow_id')} run "
        f"{payload.get('run_number')}"
    )
    try:
        return _compose(settings, payload, " ".join(subject.split()), recipients)
    except ValueError as exc:  # a rendered 'to' or 'from' with a line break: no injected header
        raise DeliveryError(f"email: the mail cannot be written ({exc})", permanent=True) from None


def _compose(
    settings: Mapping[str, Any], payload: Mapping[str, Any], subject: str, recipients: list[str]
) -> EmailMessage:
    alert_id = str(payload.get("id", ""))
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = str(settings.get("from") or f"maestro@{socket.getfqdn()}")
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = f"<{alert_id}@maestro>"
    message["X-Maestro-Alert-Id"] = alert_id
    headline = str(settings.get("message") or summary(payload))
    rows = [(key, payload.get(key)) for key in _FIELDS if payload.get(key) is not None]
    url = payload.get("url")
    text = "\n".join(
        [headline, "", *(f"{key}: {value}" for key, value in rows), *([f"\n{url}"] if url else [])]
    )
    message.set_content(text)
    cells = "".join(
        f"<tr><th align='left'>{html.escape(key)}</th><td>{html.escape(str(value))}</td></tr>"
        for key, value in rows
    )
    link = f"<p><a href='{html.escape(str(url))}'>Open the run</a></p>" if url else ""
    message.add_alternative(
        f"<html><body><p>{html.escape(headline)}</p><table>{cells}</table>{link}</body></html>",
        subtype="html",
    )
    return message
