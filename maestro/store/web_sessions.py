"""The web view's sessions: what its cookie names instead of the API token itself.

The cookie once held the raw API token, so a copied cookie was the token (usable with the API
for as long as the token lived), and logging out only asked the browser to forget it. Now the
login form's token opens a session: a random id (``mws_`` + 32 random bytes) goes in the
cookie and only its sha256 is stored, with the token it acts as. A session ends when

- its browser logs out (``close_session``: revoked server-side, a replayed cookie opens
  nothing),
- its token is revoked (``maestro token revoke``: checked on every request through the join),
- it has not been used for ``IDLE``, or ``LIFETIME`` after it was opened, whichever is first.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, insert, or_, select, update

from maestro.store import tables
from maestro.store.tokens import Principal, Scope, digest, live

S, T = tables.web_sessions, tables.api_tokens
PREFIX = "mws_"
#: a session unused this long ends
IDLE = timedelta(hours=12)
#: a session ends this long after it was opened, used or not
LIFETIME = timedelta(days=7)
#: ``last_seen_at`` (and the token's ``last_used_at``) are refreshed at most this often
TOUCH_EVERY = timedelta(minutes=1)


def open_session(conn: Connection, token: str, now: datetime) -> str | None:
    """A new session acting as the live API token ``token`` — its id, shown only to the
    browser's cookie — or None when the token is unknown or revoked. Ended sessions of the
    same token are deleted on the way (the table holds live sessions, roughly)."""
    if not token.startswith("mae_") or len(token) > 256:
        return None
    token_id = conn.execute(
        select(T.c.id).where(T.c.token_hash == digest(token), live(now))
    ).scalar()
    if token_id is None:
        return None
    conn.execute(
        delete(S).where(
            S.c.token_id == token_id,
            or_(S.c.revoked_at.is_not(None), S.c.expires_at <= now, S.c.last_seen_at <= now - IDLE),
        )
    )
    session_id = PREFIX + secrets.token_urlsafe(32)
    conn.execute(
        insert(S).values(
            id=digest(session_id),
            token_id=token_id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + LIFETIME,
        )
    )
    conn.execute(update(T).where(T.c.id == token_id).values(last_used_at=now))
    return session_id


def verify_session(
    conn: Connection, session_id: str, now: datetime
) -> tuple[Principal, bool] | None:
    """The principal of a live session and whether it is due for ``touch_session``, or None
    (unknown, logged out, idle, expired, or its token revoked or expired)."""
    if not session_id.startswith(PREFIX) or len(session_id) > 128:
        return None
    row = conn.execute(
        select(T.c.name, T.c.scope, T.c.owners, S.c.last_seen_at)
        .select_from(S.join(T, T.c.id == S.c.token_id))
        .where(
            S.c.id == digest(session_id),
            S.c.revoked_at.is_(None),
            S.c.expires_at > now,
            S.c.last_seen_at > now - IDLE,
            live(now),
        )
    ).first()
    if row is None:
        return None
    stale = now - row.last_seen_at >= TOUCH_EVERY
    return Principal(row.name, Scope(row.scope), tuple(row.owners or ())), stale


def touch_session(conn: Connection, session_id: str, now: datetime) -> None:
    """Record that a session (and so its token) was used: it stays alive another ``IDLE``."""
    token_id = conn.execute(
        update(S)
        .where(S.c.id == digest(session_id), S.c.revoked_at.is_(None))
        .values(last_seen_at=now)
        .returning(S.c.token_id)
    ).scalar()
    if token_id is not None:
        conn.execute(
            update(T)
            .where(
                T.c.id == token_id,
                T.c.revoked_at.is_(None),
                (T.c.last_used_at.is_(None)) | (T.c.last_used_at <= now - TOUCH_EVERY),
            )
            .values(last_used_at=now)
        )


def close_session(conn: Connection, session_id: str, now: datetime) -> None:
    """Log a session out: its id opens nothing any more (an unknown id is no error)."""
    if not session_id.startswith(PREFIX) or len(session_id) > 128:
        return
    conn.execute(
        update(S)
        .where(S.c.id == digest(session_id), S.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
