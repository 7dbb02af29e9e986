"""API tokens: created by an admin with the CLI, shown once, stored as a sha256 digest.

A token is ``mae_`` + 32 random bytes (URL-safe base64). Its scope says what it may do:
``read`` every GET, ``write`` also submit, start and act on the workflows of its owners (any
owner when its owner list is empty), ``admin`` everything. Its name is the actor recorded in
the events of what it does.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import ColumnElement, Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from maestro.errors import Conflict, NotFound
from maestro.store import tables

T = tables.api_tokens
PREFIX = "mae_"
#: ``last_used_at`` is refreshed at most this often (a write per request would be a hot path)
TOUCH_EVERY = timedelta(minutes=1)


class Scope(StrEnum):
    read = "read"  # every GET
    write = "write"  # submit, start and act on workflows of the token's owners
    admin = "admin"  # everything: tokens, pools, deleting workflows

    @property
    def rank(self) -> int:
        return _RANK[self]

    def allows(self, needed: Scope) -> bool:
        return self.rank >= needed.rank


_RANK = {Scope.read: 0, Scope.write: 1, Scope.admin: 2}


@dataclass(frozen=True)
class Principal:
    """Who is calling: a token's name, scope and owners (or the anonymous caller)."""

    name: str
    scope: Scope
    owners: tuple[str, ...] = ()

    def may_act_for(self, owner: str) -> bool:
        """Whether this caller may change workflows of ``owner`` (given write scope)."""
        return self.may_act_for_all or owner in self.owners

    @property
    def may_act_for_all(self) -> bool:
        """An admin, a token limited to no owner, or no tokens at all (anonymous)."""
        return self.scope is Scope.admin or not self.owners


#: the caller when authentication is disabled (``maestro standalone``): may do everything
ANONYMOUS = Principal("anonymous", Scope.admin)


@dataclass(frozen=True)
class TokenInfo:
    name: str
    scope: Scope
    owners: list[str] = field(default_factory=list)
    created_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    expires_at: datetime | None = None


def live(now: datetime) -> ColumnElement[bool]:
    """A token neither revoked nor expired at ``now``."""
    return T.c.revoked_at.is_(None) & (T.c.expires_at.is_(None) | (T.c.expires_at > now))


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(
    conn: Connection,
    name: str,
    scope: Scope,
    owners: Sequence[str],
    now: datetime,
    expires_at: datetime | None = None,
) -> str:
    """Store a new token and return it; this is the only time it is ever seen. From
    ``expires_at`` on it is refused (None: it lives until revoked)."""
    if not name.strip() or len(name) > 128:
        raise ValueError("a token name must have 1 to 128 characters")
    token = PREFIX + secrets.token_urlsafe(32)
    try:
        with conn.begin_nested():
            conn.execute(
                insert(T).values(
                    name=name,
                    token_hash=digest(token),
                    scope=scope.value,
                    owners=sorted(set(owners)),
                    created_at=now,
                    expires_at=expires_at,
                )
            )
    except IntegrityError:
        raise Conflict(f"a live token named {name!r} exists: revoke it first") from None
    return token


def verify_token(conn: Connection, token: str, now: datetime) -> tuple[Principal, bool] | None:
    """The principal of a live token and whether its ``last_used_at`` is due for a refresh
    (``touch_token``), or None for an unknown, revoked or expired token."""
    if not token.startswith(PREFIX) or len(token) > 256:
        return None
    row = conn.execute(
        select(T.c.name, T.c.scope, T.c.owners, T.c.last_used_at).where(
            T.c.token_hash == digest(token), live(now)
        )
    ).first()
    if row is None:
        return None
    stale = row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY
    return Principal(row.name, Scope(row.scope), tuple(row.owners or ())), stale


def touch_token(conn: Connection, token: str, now: datetime) -> None:
    """Record that a token was used (at most once per ``TOUCH_EVERY``)."""
    conn.execute(
        update(T)
        .where(
            T.c.token_hash == digest(token),
            T.c.revoked_at.is_(None),
            (T.c.last_used_at.is_(None)) | (T.c.last_used_at <= now - TOUCH_EVERY),
        )
        .values(last_used_at=now)
    )


def list_tokens(conn: Connection, *, include_revoked: bool = False) -> list[TokenInfo]:
    query = select(T).order_by(T.c.name, T.c.id)
    if not include_revoked:
        query = query.where(T.c.revoked_at.is_(None))
    return [
        TokenInfo(
            name=r.name,
            scope=Scope(r.scope),
            owners=list(r.owners or []),
            created_at=r.created_at,
            last_used_at=r.last_used_at,
            revoked_at=r.revoked_at,
            expires_at=r.expires_at,
        )
        for r in conn.execute(query)
    ]


def revoke_token(conn: Connection, name: str, now: datetime) -> None:
    """Revoke the live token called ``name``; its row stays for the history."""
    result = conn.execute(
        update(T).where(T.c.name == name, T.c.revoked_at.is_(None)).values(revoked_at=now)
    )
    if result.rowcount == 0:
        raise NotFound(f"no live token named {name!r}")
