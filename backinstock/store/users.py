"""Console users and their sessions: who may sign in, with which permissions, and who is signed in.

Passwords are kept as argon2id hashes (argon2-cffi). A session is a random token in a cookie; the store keeps
only its SHA-256, with a CSRF token and an expiry. Every sign-in starts a new session (rotation), so a token
planted in a browser before the sign-in never becomes a signed-in one. The CLI (`backinstock user`) and the
console's users page call these functions; every change of a user is audited.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from backinstock.store import audit
from backinstock.store.tables import PERMISSIONS, user_sessions, users

USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,254}$")
MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 1024  # argon2 takes any length; a megabyte password is a denial of service
_hasher = PasswordHasher()
# Verified against when the name is unknown, so a wrong name costs as long as a wrong password.
_ABSENT_HASH = _hasher.hash(secrets.token_urlsafe(16))


class UserError(ValueError):
    """A user change refused, with the reason in words."""


def permissions_of(values: Iterable[str]) -> list[str]:
    """The permissions named, checked and sorted; raises UserError on an unknown one."""
    chosen = sorted({value.strip() for value in values if value.strip()})
    unknown = [value for value in chosen if value not in PERMISSIONS]
    if unknown:
        raise UserError(f"unknown permission {', '.join(unknown)}; permissions are {', '.join(PERMISSIONS)}")
    return chosen


def _name(name: str) -> str:
    if not USER_NAME.match(name or ""):
        raise UserError("a user name is 1-255 letters, digits or . _ @ + - (starting with a letter or digit)")
    return name


def _password(password: str) -> str:
    if not (MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS):
        raise UserError(f"a password has {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters")
    return password


def get_user(connection: sa.Connection, name: str) -> dict[str, Any] | None:
    row = connection.execute(sa.select(users).where(users.c.name == name)).first()
    return None if row is None else dict(row._mapping)


def all_users(connection: sa.Connection) -> list[dict[str, Any]]:
    rows = connection.execute(sa.select(users).order_by(users.c.name))
    return [{key: value for key, value in row._mapping.items() if key != "password_hash"} for row in rows]


def add_user(
    connection: sa.Connection,
    *,
    name: str,
    password: str,
    permissions: Iterable[str],
    actor: str,
    now: datetime,
    source: str | None = None,
) -> int:
    """A new user with a hashed password and the permissions given; audited. Returns its id."""
    name, password, granted = _name(name), _password(password), permissions_of(permissions)
    if get_user(connection, name) is not None:
        raise UserError(f"a user named {name!r} exists")
    user_id = connection.execute(
        sa.insert(users)
        .values(
            name=name,
            password_hash=_hasher.hash(password),
            permissions=granted,
            created_at=now,
            updated_at=now,
        )
        .returning(users.c.id)
    ).scalar_one()
    audit.record(
        connection,
        actor=actor,
        action="user.add",
        target_type="user",
        target_id=name,
        now=now,
        after={"permissions": granted},
        source=source,
    )
    return user_id


def set_permissions(
    connection: sa.Connection,
    *,
    name: str,
    permissions: Iterable[str],
    actor: str,
    now: datetime,
    source: str | None = None,
    reason: str | None = None,
) -> list[str]:
    """Replace a user's permissions; audited with before and after. Returns the permissions now held."""
    user = get_user(connection, name)
    if user is None:
        raise LookupError(f"no user named {name!r}")
    granted = permissions_of(permissions)
    connection.execute(
        sa.update(users).where(users.c.id == user["id"]).values(permissions=granted, updated_at=now)
    )
    audit.record(
        connection,
        actor=actor,
        action="user.permissions",
        target_type="user",
        target_id=name,
        now=now,
        before={"permissions": user["permissions"]},
        after={"permissions": granted},
        reason=reason,
        source=source,
    )
    return granted


def set_disabled(
    connection: sa.Connection,
    *,
    name: str,
    disabled: bool,
    actor: str,
    now: datetime,
    source: str | None = None,
    reason: str | None = None,
) -> None:
    """Disable a user (its sessions end at once) or enable it again; audited."""
    user = get_user(connection, name)
    if user is None:
        raise LookupError(f"no user named {name!r}")
    connection.execute(
        sa.update(users)
        .where(users.c.id == user["id"])
        .values(disabled_at=now if disabled else None, updated_at=now)
    )
    if disabled:
        connection.execute(sa.delete(user_sessions).where(user_sessions.c.user_id == user["id"]))
    audit.record(
        connection,
        actor=actor,
        action="user.disable" if disabled else "user.enable",
        target_type="user",
        target_id=name,
        now=now,
        reason=reason,
        source=source,
    )


def authenticate(connection: sa.Connection, name: str, password: str) -> dict[str, Any] | None:
    """The enabled user whose password this is, else None (same work for an unknown name)."""
    user = get_user(connection, name) if USER_NAME.match(name or "") else None
    if len(password) > MAX_PASSWORD_CHARS:
        return None
    try:
        _hasher.verify(user["password_hash"] if user else _ABSENT_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or user["disabled_at"] is not None:
        return None
    if _hasher.check_needs_rehash(user["password_hash"]):
        connection.execute(
            sa.update(users).where(users.c.id == user["id"]).values(password_hash=_hasher.hash(password))
        )
    return user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(
    connection: sa.Connection,
    user_id: int,
    *,
    now: datetime,
    lifetime: timedelta,
    ip: str | None = None,
    replacing: str | None = None,
) -> str:
    """A new session for the user; the session in `replacing` (the browser's previous token) ends.
    Returns the token for the cookie (stored only as its digest)."""
    if replacing:
        end_session(connection, replacing)
    connection.execute(sa.delete(user_sessions).where(user_sessions.c.expires_at <= now))
    token = secrets.token_urlsafe(32)
    connection.execute(
        sa.insert(user_sessions).values(
            token_hash=_digest(token),
            user_id=user_id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + lifetime,
            ip=ip,
        )
    )
    return token


def session_user(connection: sa.Connection, token: str | None, now: datetime) -> dict[str, Any] | None:
    """The signed-in user of a session token with the session's CSRF token, or None (unknown, expired or
    disabled)."""
    if not token or len(token) > 128:
        return None
    row = connection.execute(
        sa.select(users.c.id, users.c.name, users.c.permissions, user_sessions.c.csrf_token)
        .join(user_sessions, user_sessions.c.user_id == users.c.id)
        .where(
            user_sessions.c.token_hash == _digest(token),
            user_sessions.c.expires_at > now,
            users.c.disabled_at.is_(None),
        )
    ).first()
    return None if row is None else dict(row._mapping)


def end_session(connection: sa.Connection, token: str) -> None:
    connection.execute(sa.delete(user_sessions).where(user_sessions.c.token_hash == _digest(token)))
