"""Dependencies of the routes: the engine, the caller, and the scope each route needs.

Every route takes one of ``ReadToken``, ``WriteToken`` or ``AdminToken``; write routes on a
workflow also call ``check_owner`` with the workflow's owner. With authentication disabled
(``maestro standalone``) the caller is ``anonymous`` and may do everything.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.errors import Forbidden, TooManyRequests, Unauthorized
from api.throttle import client_of, throttle_of
from maestro.engine.core import Engine
from maestro.store.tokens import ANONYMOUS, Principal, Scope, touch_token, verify_token

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="A token from `maestro token create` (scopes read, write, admin).",
)


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


EngineDep = Annotated[Engine, Depends(get_engine)]


def current_principal(
    request: Request,
    engine: EngineDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Principal:
    """The caller named by the bearer token (401 without a live one; 429 while this client is
    backed off for presenting bad ones, see ``api.throttle``)."""
    if not request.app.state.auth:
        return ANONYMOUS
    if credentials is None:
        raise Unauthorized("this API needs an `Authorization: Bearer <token>` header")
    throttle, client = throttle_of(request), client_of(request)
    wait = throttle.retry_after(client)
    if wait is not None:  # not even a right token gets through: that is the back-off
        raise TooManyRequests(wait)
    token = credentials.credentials
    now = engine.clock.now()
    with engine.db.read() as conn:
        found = verify_token(conn, token, now)
    if found is None:
        throttle.failed(client)
        raise Unauthorized("the token is unknown, revoked or expired")
    throttle.succeeded(client)
    principal, stale = found
    if stale:
        with engine.db.tx() as conn:
            touch_token(conn, token, now)
    return principal


CurrentToken = Annotated[Principal, Depends(current_principal)]


def require(scope: Scope) -> Callable[[Principal], Principal]:
    def check(principal: CurrentToken) -> Principal:
        if not principal.scope.allows(scope):
            raise Forbidden(
                f"this needs a token with {scope.value} scope; "
                f"{principal.name!r} has {principal.scope.value} scope"
            )
        return principal

    return check


ReadToken = Annotated[Principal, Depends(require(Scope.read))]
WriteToken = Annotated[Principal, Depends(require(Scope.write))]
AdminToken = Annotated[Principal, Depends(require(Scope.admin))]


def check_owner(principal: Principal, owner: str) -> None:
    """403 unless the caller may act on workflows of ``owner``."""
    if not principal.may_act_for(owner):
        allowed = ", ".join(principal.owners)
        raise Forbidden(f"token {principal.name!r} may act for owners {allowed}, not for {owner!r}")
