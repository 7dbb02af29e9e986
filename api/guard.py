"""What a browser on another site may not do to this server (ASGI middleware).

A page on any site can make the user's browser send requests to ``127.0.0.1:8080``. Without
tokens (``maestro standalone``) such a request would act as the user: a "simple" cross-origin
POST (``text/plain``, a form, no body) is sent without asking the server first, and starting a
run with a shell step runs a command on the user's machine. So, for every request:

1. **Host**: the ``Host`` header must name this server (``allowed_hosts``; loopback names when
   it listens on loopback), else 400 — a DNS-rebinding page reaches 127.0.0.1 under its own
   name, and is refused here.
2. **Origin**: a state-changing request (not GET/HEAD/OPTIONS) whose ``Origin`` is another
   origin than the server's own (or one of ``cors_origins``), or that the browser marks
   ``Sec-Fetch-Site: cross-site``/``same-site``, is refused with 403.
3. **Content-Type**, when the API acts without tokens: a POST to the API must say what its body
   is in a type that a browser sends cross-origin only after a CORS preflight
   (``application/json``, ``application/yaml``…); ``text/plain``, form types and none at all
   are refused with 415. Only POST needs it: PUT, PATCH and DELETE always need a preflight,
   and with tokens on, a request without one is refused anyway (a page cannot add one). With
   tokens, ``text/plain`` and form bodies are refused with 415 as well (the API reads none of
   them as such), so ``curl -d`` without a JSON type is told what to send — except a
   definition's (``POST /workflows``, ``/workflows/validate``), read whatever its type.

The server sends no CORS headers unless ``cors_origins`` are configured (MAESTRO_CORS_ORIGINS),
so a preflight from any other origin fails in the browser. The web view's forms (outside
``/api/``) are form posts by design: a CSRF token and the same Origin rule guard them.
"""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import problem

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: the Content-Types a browser sends cross-origin without a preflight (the Fetch standard's
#: CORS-safelisted request-header values), plus none at all
SIMPLE_TYPES = frozenset(
    {"", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"}
)
#: the API paths that read a definition (YAML or JSON, whatever the Content-Type says)
DEFINITION_PATHS = ("/workflows", "/workflows/validate")
#: what a server listening on loopback answers to
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def host_name(host_header: str) -> str:
    """``127.0.0.1:8080`` → ``127.0.0.1``; ``[::1]:8080`` → ``::1``; lower case."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class BrowserGuard:
    """Host, Origin and Content-Type checks (see the module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        allowed_hosts: Collection[str] | None,
        cors_origins: Collection[str] = (),
        typed_posts: bool = True,
        api_prefix: str = "/api/",
    ) -> None:
        self.app = app
        self.typed_posts = typed_posts
        self.allowed_hosts = None if allowed_hosts is None else {h.lower() for h in allowed_hosts}
        self.cors_origins = {o.rstrip("/").lower() for o in cors_origins}
        self.api_prefix = api_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(scope)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        status, detail = refusal
        await problem(status, detail)(scope, receive, send)

    def refusal(self, scope: Scope) -> tuple[int, str] | None:
        """(status, reason) when the request is refused, else None."""
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if self.allowed_hosts is not None and host_name(host) not in self.allowed_hosts:
            return 400, (
                f"this server does not answer to the host {host!r}; "
                "name it in MAESTRO_ALLOWED_HOSTS to allow it"
            )
        if scope["method"] in SAFE_METHODS:
            return None
        origin = headers.get("origin")
        if origin is not None:
            if not self._own_or_allowed(origin, host):
                return 403, f"requests from the origin {origin!r} are not accepted"
        elif headers.get("sec-fetch-site") in ("cross-site", "same-site"):
            return 403, "requests from another site are not accepted"
        path: str = scope["path"]
        if scope["method"] == "POST" and path.startswith(self.api_prefix):
            media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
            # with tokens a form or text body is refused too, to say so (curl -d sends a form,
            # which answered a 422 about a "dictionary"); a body-less POST needs no type, and
            # a definition is read whatever its type says (curl --data-binary @wf.yaml)
            refused = SIMPLE_TYPES if self.typed_posts else SIMPLE_TYPES - {""}
            if not self.typed_posts and path.rstrip("/").endswith(DEFINITION_PATHS):
                refused = frozenset()
            if media_type in refused:
                shown = repr(media_type) if media_type else "no Content-Type"
                return 415, (
                    f"POST {path} needs a Content-Type such as application/json "
                    f"(or application/yaml for definitions), not {shown}"
                )
        return None

    def _own_or_allowed(self, origin: str, host: str) -> bool:
        origin = origin.rstrip("/").lower()
        if origin in self.cors_origins:
            return True
        # the host part only: behind a TLS-terminating proxy the app itself sees plain http
        return origin != "null" and urlsplit(origin).netloc == host.lower()
