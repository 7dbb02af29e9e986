"""The failure of one try to deliver an alert."""

from __future__ import annotations


class DeliveryError(Exception):
    """A failed try. ``permanent``: trying again cannot help (a misconfigured channel); the
    message never holds a secret."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


#: HTTP answers worth another try; every other 4xx is the request's fault, for good
RETRIABLE_4XX = frozenset({408, 425, 429})
