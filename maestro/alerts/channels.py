"""One delivery of one alert over its channel: ``deliver`` returns, or raises ``DeliveryError``
saying whether trying again could help. Messages never hold a secret (a connection's URL, a
password): they name the channel and what happened."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from maestro.alerts import email, python_call, web
from maestro.alerts.errors import DeliveryError
from maestro.connections import ConnectionLookupError

ConnectionResolver = Callable[[str], str]

__all__ = ["ConnectionResolver", "DeliveryError", "deliver"]


def deliver(
    channel: str,
    settings: Mapping[str, Any],
    payload: Mapping[str, Any],
    *,
    timeout: float,
    connections: ConnectionResolver,
    project_dir: Path | None = None,
) -> None:
    """Deliver one alert (``settings``: the channel's, templates rendered)."""
    if channel == "webhook":
        web.webhook(settings, payload, timeout)
    elif channel == "slack":
        web.slack(settings, payload, _url(connections, settings, channel), timeout)
    elif channel == "email":
        email.send(settings, payload, _url(connections, settings, channel), timeout)
    elif channel == "python":
        python_call.call(settings, payload, project_dir, timeout)
    else:
        raise DeliveryError(f"unknown channel {channel!r}", permanent=True)


def _url(connections: ConnectionResolver, settings: Mapping[str, Any], channel: str) -> str:
    try:
        return connections(str(settings.get("connection", "")))
    except ConnectionLookupError as exc:
        raise DeliveryError(f"{channel}: {exc}", permanent=True) from None
