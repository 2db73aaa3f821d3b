"""Secret tokens kept only as SHA-256: API tokens of accounts, and the helpers reporters' private links use too."""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import psycopg
from psycopg.rows import dict_row

from geodata import accounts, permissions, validation
from geodata.permissions import Actor

log = logging.getLogger(__name__)

# Marks our API tokens in logs and secret scanners; the rest is 256 random bits.
API_PREFIX = "wm_"
MAX_TOKEN_LENGTH = 200
MAX_NAME_LENGTH = 100  # as api_tokens.name's CHECK


class InvalidToken(permissions.AuthenticationRequired):
    """A presented API token is unknown, revoked or expired (401, never a hint which)."""

    def __init__(self):
        permissions.PermissionDenied.__init__(self, "token", "The API token is not valid: it is unknown, revoked or expired.")


class TokenRoleNotAllowed(permissions.PermissionDenied):
    """A token may not act with more than its user may do."""

    def __init__(self, user_role: str, role: str):
        super().__init__("tokens.manage", f"A {user_role}'s token cannot have the role {role}.")


def new_token(prefix: str = "") -> tuple[str, str]:
    """A fresh high-entropy token and the SHA-256 hex that is all the database keeps of it."""
    token = prefix + secrets.token_urlsafe(32)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    """The SHA-256 hex of a token: a plain hash is enough, since the token itself carries 256 random bits."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def verify_token(token: str, token_hash: str) -> bool:
    """Whether a presented token is the one a stored hash was made from (constant-time comparison)."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        return False
    return hmac.compare_digest(hash_token(token), token_hash)


@dataclass(frozen=True)
class CreatedToken:
    """A new API token; `token` is known only now and is shown once."""

    id: int
    token: str
    prefix: str


def create_api_token(conn: psycopg.Connection, user_id: int, role: str, name: str, *, created_by: int | None = None,
                     expires_at: datetime | None = None) -> CreatedToken:
    """Make a token for a user, acting with role (the user's own or one whose permissions are within it)."""
    try:
        name = validation.text(name, max_length=MAX_NAME_LENGTH)
    except ValueError as exc:
        raise validation.ValidationError({"name": str(exc)}) from None
    row = conn.execute("SELECT role, active FROM users WHERE id = %s", (user_id,)).fetchone()
    if row is None:
        raise LookupError(f"no user {user_id}")
    user_role = row[0]
    if role not in permissions.roles_within(user_role):
        raise TokenRoleNotAllowed(user_role, role)
    token, digest = new_token(API_PREFIX)
    prefix = token[: len(API_PREFIX) + 6]
    token_id = conn.execute(
        "INSERT INTO api_tokens (user_id, name, role, token_hash, prefix, created_by, expires_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (user_id, name, role, digest, prefix, created_by, expires_at),
    ).fetchone()[0]
    return CreatedToken(token_id, token, prefix)


def expiry_in(days: int | None) -> datetime | None:
    """The expiry `days` from now (UTC), or None for a token that does not expire."""
    if not days:
        return None
    return datetime.now(timezone.utc) + timedelta(days=days)


def revoke(conn: psycopg.Connection, token_id: int) -> bool:
    """Revoke a token; False when there is no such token or it was revoked already."""
    row = conn.execute("UPDATE api_tokens SET revoked_at = now() WHERE id = %s AND revoked_at IS NULL RETURNING id",
                       (token_id,)).fetchone()
    return row is not None


_LOOKUP = """
SELECT t.id, t.role, t.user_id, t.name
FROM api_tokens t JOIN users u ON u.id = t.user_id
WHERE t.token_hash = %s AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now()) AND u.active
"""


def actor_for_token(conn: psycopg.Connection, token: str | None, *, client_key: str | None = None) -> Actor | None:
    """The actor a valid API token stands for (its user, with the token's role); None when it is not valid."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    row = conn.execute(_LOOKUP, (hash_token(token),)).fetchone()
    if row is None:
        return None
    token_id, role, user_id, name = row
    # Recorded at most once a minute per token, so a busy client does not write on every request.
    conn.execute("UPDATE api_tokens SET last_used_at = now() WHERE id = %s"
                 " AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')", (token_id,))
    account = accounts.load_user(conn, user_id)
    if account is None or not account.active:
        return None
    return accounts.actor_for(conn, account, role=role, via_token=f"token:{token_id}", client_key=client_key)


def list_tokens(conn: psycopg.Connection, *, limit: int = 200) -> list[dict]:
    """Every token with its user, newest first; never the hash."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT t.id, t.name, t.role, t.prefix, t.created_at, t.expires_at, t.revoked_at, t.last_used_at,"
            " t.user_id, u.username, c.username AS created_by_username,"
            " (t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())) AS usable"
            " FROM api_tokens t JOIN users u ON u.id = t.user_id LEFT JOIN users c ON c.id = t.created_by"
            " ORDER BY t.id DESC LIMIT %s", (limit,)).fetchall()
