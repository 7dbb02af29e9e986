"""The HTTP channels: a webhook gets the JSON payload, Slack an incoming-webhook message.

Every request carries ``Idempotency-Key: <alert id>``. A 2xx answer is a delivery; a 4xx other
than 408/425/429 is permanent (the request is wrong, and will stay wrong); anything else —
5xx, a timeout, a refused connection — is worth another try. The Slack URL is a secret as a
whole (it is the credential): no message names it. An answer's text is quoted in the message
only with the request's secrets masked (a receiver may echo what it got), and of Slack only
its error code (``no_service``).
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NoReturn
from urllib.parse import urlsplit

import httpx

from maestro import __version__
from maestro.alerts.errors import RETRIABLE_4XX, DeliveryError
from maestro.alerts.slack_message import slack_message
from maestro.connections import scrub, secrets_of

#: headers whose values are credentials (``Authorization: Bearer …``, ``X-Api-Key``)
_SECRET_HEADER = re.compile(r"auth|token|key|secret|pass|cookie|signature", re.IGNORECASE)
#: Slack answers an error code (``no_service``, ``invalid_token``): the only text shown of it
_SLACK_CODE = re.compile(r"[a-z0-9_]{1,60}")


def webhook(settings: Mapping[str, Any], payload: Mapping[str, Any], timeout: float) -> None:
    url = str(settings.get("url", ""))
    method = str(settings.get("method") or "POST")
    body = dict(payload)
    if settings.get("message"):
        body["message"] = str(settings["message"])
    headers = {str(k): str(v) for k, v in (settings.get("headers") or {}).items()}
    secrets = _secrets_of_request(url, headers)
    answer = _send(method, url, body, headers, payload, timeout, f"webhook: {method} {shown(url)}")
    if answer is not None:
        status, text = answer
        detail = " ".join(scrub(text, secrets).split())[:120]
        _refuse(f"webhook: {method} {shown(url)}", status, detail)


def slack(
    settings: Mapping[str, Any], payload: Mapping[str, Any], url: str, timeout: float
) -> None:
    try:
        path = urlsplit(url).path
    except ValueError:  # httpx refuses it below, without quoting it
        path = ""
    secrets = [url, path] if len(path) > 1 else [url]
    with _hidden_from_logs(secrets):
        answer = _send(
            "POST",
            url,
            slack_message(settings, payload),
            {},
            payload,
            timeout,
            "slack: the webhook",
        )
    if answer is not None:
        status, text = answer
        code = text.strip()
        _refuse("slack: the webhook", status, code if _SLACK_CODE.fullmatch(code) else "")


def _secrets_of_request(url: str, headers: Mapping[str, str]) -> list[str]:
    """What an echo of the request could leak: the URL's user, password and secret query
    values, and the values of credential headers."""
    try:
        userinfo = [urlsplit(url).username or "", urlsplit(url).password or ""]
    except ValueError:
        userinfo = []
    found = [*secrets_of(url), *userinfo]
    for name, value in headers.items():
        if _SECRET_HEADER.search(name):  # ``Bearer t0k3n``, and ``t0k3n`` alone
            found += [value, *value.split()]
    return [secret for secret in found if secret]


class _ScrubSecrets(logging.Filter):
    """httpx logs every request's URL at INFO: a Slack URL in flight is masked there."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: Counter[str] = Counter()
        self.lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        with self.lock:
            secrets = list(self.secrets)
        if secrets:
            text = record.getMessage()
            if any(secret in text for secret in secrets):
                record.msg, record.args = scrub(text, secrets), None
        return True


_SCRUB = _ScrubSecrets()
logging.getLogger("httpx").addFilter(_SCRUB)


@contextmanager
def _hidden_from_logs(secrets: list[str]) -> Iterator[None]:
    with _SCRUB.lock:
        _SCRUB.secrets.update(secrets)
    try:
        yield
    finally:
        with _SCRUB.lock:
            _SCRUB.secrets.subtract(secrets)
            _SCRUB.secrets = +_SCRUB.secrets


def shown(url: str) -> str:
    """``url`` as an error message may show it: no user, password or query values."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<an invalid URL>"
    return f"{parts.scheme}://{host}{port}{parts.path}" + ("?…" if parts.query else "")


def _send(
    method: str,
    url: str,
    body: Mapping[str, Any],
    headers: Mapping[str, str],
    payload: Mapping[str, Any],
    timeout: float,
    label: str,
) -> tuple[int, str] | None:
    """None when the receiver took it (2xx); otherwise its status and text."""
    sent_headers = {
        "User-Agent": f"maestro-alerts/{__version__}",
        **headers,
        "Idempotency-Key": str(payload.get("id", "")),
    }
    try:
        answer = httpx.request(
            method, url, json=body, headers=sent_headers, timeout=timeout, follow_redirects=False
        )
    except (httpx.InvalidURL, httpx.UnsupportedProtocol):
        raise DeliveryError(f"{label}: not a valid http(s) URL", permanent=True) from None
    except httpx.TimeoutException:
        raise DeliveryError(f"{label} did not answer within {timeout:g} s") from None
    except httpx.HTTPError as exc:  # refused, reset, DNS: the text may quote the URL
        raise DeliveryError(f"{label} could not be reached ({type(exc).__name__})") from None
    if answer.is_success:
        return None
    return answer.status_code, answer.text


def _refuse(label: str, status: int, detail: str) -> NoReturn:
    permanent = 400 <= status < 500 and status not in RETRIABLE_4XX
    raise DeliveryError(
        f"{label} answered {status}" + (f" ({detail})" if detail else ""), permanent=permanent
    )
