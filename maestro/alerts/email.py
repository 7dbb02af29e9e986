"""The email channel: a plain-text and HTML mail over SMTP.

The connection is ``smtp://user:pass@host:port`` (STARTTLS when the server offers it; port 25
unless given) or ``smtps://…`` (TLS from the start; port 465). A user in the URL logs in. The
server's 250 is a delivery; a refused login or a 5xx is permanent, a 4xx or a network failure
worth another try. The password never appears in a message.
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
from urllib.parse import unquote, urlsplit

from maestro.alerts.errors import DeliveryError
from maestro.alerts.slack_message import summary

_FIELDS = ("workflow_id", "run_number", "status", "step_id", "error", "logical_date", "at")


def send(settings: Mapping[str, Any], payload: Mapping[str, Any], url: str, timeout: float) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise DeliveryError(
            "email: the connection is not an smtp:// or smtps:// URL with a host", permanent=True
        )
    tls = parts.scheme == "smtps"
    try:
        port = parts.port or (465 if tls else 25)
    except ValueError:
        raise DeliveryError(
            "email: the connection's port is not a number", permanent=True
        ) from None
    where = f"{parts.hostname}:{port}"
    message = _message(settings, payload)
    try:
        smtp_class = smtplib.SMTP_SSL if tls else smtplib.SMTP
        with smtp_class(parts.hostname, port, timeout=timeout) as smtp:
            if not tls:
                smtp.ehlo()
                if smtp.has_extn("starttls"):
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
            if parts.username:
                smtp.login(unquote(parts.username), unquote(parts.password or ""))
            refused = smtp.send_message(message)
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(
            f"email: {where} refused the login ({exc.smtp_code})", permanent=True
        ) from None
    except smtplib.SMTPRecipientsRefused as exc:
        codes = sorted({code for code, _ in exc.recipients.values()})
        raise DeliveryError(
            f"email: {where} refused every recipient ({', '.join(map(str, codes))})",
            permanent=all(code >= 500 for code in codes),
        ) from None
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(
            f"email: {where} answered {exc.smtp_code}", permanent=exc.smtp_code >= 500
        ) from None
    except smtplib.SMTPNotSupportedError:
        raise DeliveryError(f"email: {where} does not support login", permanent=True) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"email: cannot reach {where} ({type(exc).__name__})") from None
    if refused:  # the others have it already: sending again would double theirs
        raise DeliveryError(
            f"email: sent, but {where} refused {', '.join(sorted(refused))}", permanent=True
        )


def _message(settings: Mapping[str, Any], payload: Mapping[str, Any]) -> EmailMessage:
    alert_id = str(payload.get("id", ""))
    message = EmailMessage()
    message["Subject"] = str(
        settings.get("subject")
        or f"[maestro] {payload.get('event')}: {payload.get('workflow_id')} run "
        f"{payload.get('run_number')}"
    )
    message["From"] = str(settings.get("from") or f"maestro@{socket.getfqdn()}")
    message["To"] = ", ".join(str(to) for to in settings.get("to") or [])
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
