"""User accounts: create, read, change, sign in; and the Actor an account acts as."""
from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import psycopg
from psycopg.rows import dict_row

from geodata import passwords, permissions, tokens
from geodata.permissions import Actor
from geodata import validation
from geodata.validation import ValidationError

log = logging.getLogger(__name__)

ROLES = permissions.ROLES[1:]  # every role an account can have ("anonymous" is no account)
USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{3,64}$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")
MAX_DISPLAY_NAME = 100
# Longer than any area code; a longer one is refused before it is looked up (and echoed back in the message).
MAX_AREA_CODE = 64


class InvalidCredentials(Exception):
    """Wrong username or password (deliberately one error for both)."""


class UsernameTaken(ValidationError):
    """Another account has this username or e-mail address."""


@dataclass(frozen=True)
class Account:
    """One user as sign-in and permissions see it."""

    id: int
    username: str
    role: str
    active: bool
    session_version: int
    email: str | None = None
    display_name: str | None = None
    party_id: int | None = None
    # The areas the user was given directly (not their descendants).
    area_ids: frozenset[int] = frozenset()
    created_at: datetime | None = None
    last_login_at: datetime | None = None
    password_hash: str = field(default="", repr=False)


_COLUMNS = ("u.id, u.username, u.role, u.active, u.session_version, u.email, u.display_name, u.party_id,"
            " u.created_at, u.last_login_at, u.password_hash,"
            " ARRAY(SELECT area_id FROM user_areas ua WHERE ua.user_id = u.id ORDER BY area_id) AS area_ids")


def _account(row: dict | None) -> Account | None:
    if row is None:
        return None
    row = dict(row)
    row["area_ids"] = frozenset(row["area_ids"] or ())
    return Account(**row)


def load_user(conn: psycopg.Connection, user_id: int) -> Account | None:
    """The account with this id, or None."""
    with conn.cursor(row_factory=dict_row) as cur:
        return _account(cur.execute(f"SELECT {_COLUMNS} FROM users u WHERE u.id = %s", (user_id,)).fetchone())


def find_user(conn: psycopg.Connection, username: str) -> Account | None:
    """The account with this username (case-insensitive), or None."""
    if not isinstance(username, str) or not USERNAME.match(username):
        return None
    with conn.cursor(row_factory=dict_row) as cur:
        return _account(cur.execute(f"SELECT {_COLUMNS} FROM users u WHERE lower(u.username) = lower(%s)",
                                    (username,)).fetchone())


# The user's areas and every area below them: a street official serves its communities and their grids.
_AREAS_BELOW = """
WITH RECURSIVE below(id) AS (
    SELECT unnest(%s::bigint[])
    UNION
    SELECT a.id FROM areas a JOIN below b ON a.parent_id = b.id
)
SELECT id FROM below
"""


def areas_with_descendants(conn: psycopg.Connection, area_ids: Iterable[int]) -> frozenset[int]:
    """The areas and all areas below them through areas.parent_id."""
    ids = list(area_ids)
    if not ids:
        return frozenset()
    return frozenset(r[0] for r in conn.execute(_AREAS_BELOW, (ids,)).fetchall())


def actor_for(conn: psycopg.Connection, account: Account, *, role: str | None = None, via_token: str | None = None,
              client_key: str | None = None) -> Actor:
    """What an account may act as: its role (or a token's narrower role), its areas with theirs below, its party."""
    return Actor(
        role=role or account.role,
        user_id=account.id,
        username=account.username,
        area_ids=areas_with_descendants(conn, account.area_ids),
        party_ids=frozenset({account.party_id}) if account.party_id is not None else frozenset(),
        client_key=client_key,
        via_token=via_token,
    )


def area_ids_for_codes(conn: psycopg.Connection, codes: Iterable[str]) -> list[int]:
    """Area ids for area codes; ValidationError naming the codes that do not exist."""
    codes = [c.strip() for c in codes if c and c.strip()]
    if not codes:
        return []
    if any(validation.unstorable(c) for c in codes):
        raise ValidationError({"area": "must not contain control characters"})
    if any(len(c) > MAX_AREA_CODE for c in codes):
        raise ValidationError({"area": f"must be at most {MAX_AREA_CODE} characters"})
    found = dict(conn.execute("SELECT code, id FROM areas WHERE code = ANY(%s)", (codes,)).fetchall())
    missing = [c for c in codes if c not in found]
    if missing:
        raise ValidationError({"area": "unknown area code: " + ", ".join(missing)})
    return [found[c] for c in codes]


def check_fields(*, username: str | None = None, role: str | None = None, email: str | None = None,
                 password: str | None = None, check_password: bool = False, display_name: str | None = None) -> None:
    """ValidationError listing every field that is not acceptable."""
    problems = {}
    if username is not None and not USERNAME.match(username):
        problems["username"] = "must be 3 to 64 letters, digits or _ . @ -"
    if role is not None and role not in ROLES:
        problems["role"] = "must be one of " + ", ".join(ROLES)
    # EMAIL's classes let NUL and other control characters through, which PostgreSQL text cannot hold.
    if email and (not EMAIL.match(email) or validation.unstorable(email)):
        problems["email"] = "is not an e-mail address"
    if display_name:
        try:
            validation.text(display_name, max_length=MAX_DISPLAY_NAME)
        except ValueError as exc:
            problems["display_name"] = str(exc)
    if check_password:
        problem = passwords.problem(password)
        if problem:
            problems["password"] = problem
    if problems:
        raise ValidationError(problems)


def create_user(conn: psycopg.Connection, username: str, password: str | None, role: str, *, email: str | None = None,
                display_name: str | None = None, party_id: int | None = None, area_ids: Iterable[int] = (),
                password_hash: str | None = None) -> int:
    """Create an account and its areas; returns its id. UsernameTaken when the name or e-mail is in use."""
    email = (email or "").strip() or None
    check_fields(username=username, role=role, email=email, password=password, check_password=password_hash is None,
                 display_name=display_name)
    _check_party(conn, party_id)
    hashed = password_hash or passwords.hash_password(password)
    try:
        with conn.transaction():
            user_id = conn.execute(
                "INSERT INTO users (username, email, display_name, role, password_hash, party_id)"
                " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                (username, email, (display_name or "").strip() or None, role, hashed, party_id),
            ).fetchone()[0]
            _set_areas(conn, user_id, area_ids)
    except psycopg.errors.UniqueViolation:
        raise UsernameTaken({"username": "is taken"}, "That username or e-mail address is already in use.") from None
    log.info("created %s account %s (id %s)", role, username, user_id)
    return user_id


def _check_party(conn: psycopg.Connection, party_id: int | None) -> None:
    """ValidationError unless party_id is None or names a party (inactive ones too: an account may keep its own)."""
    if party_id is None:
        return
    if (isinstance(party_id, bool) or not isinstance(party_id, int) or not 1 <= party_id <= validation.ID_MAX
            or conn.execute("SELECT 1 FROM parties WHERE id = %s", (party_id,)).fetchone() is None):
        raise ValidationError({"party_id": "is not a party"})


def _set_areas(conn: psycopg.Connection, user_id: int, area_ids: Iterable[int]) -> None:
    conn.execute("DELETE FROM user_areas WHERE user_id = %s", (user_id,))
    ids = sorted(set(area_ids))
    if ids:
        conn.execute("INSERT INTO user_areas (user_id, area_id) SELECT %s, unnest(%s::bigint[])", (user_id, ids))


def update_user(conn: psycopg.Connection, user_id: int, *, role: str, active: bool, area_ids: Iterable[int],
                email: str | None = None, display_name: str | None = None, party_id: int | None = None) -> dict:
    """Change an account's role, areas, party and status; returns what changed (for the audit log).

    Deactivating ends every session of the account (session_version is bumped); a role or area change
    needs no such step, because each request reads them afresh.
    """
    email = (email or "").strip() or None
    check_fields(role=role, email=email, display_name=display_name)
    _check_party(conn, party_id)
    before = load_user(conn, user_id)
    if before is None:
        raise LookupError(f"no user {user_id}")
    after = {"role": role, "active": bool(active), "area_ids": sorted(set(area_ids)), "email": email,
             "display_name": (display_name or "").strip() or None, "party_id": party_id}
    was = {"role": before.role, "active": before.active, "area_ids": sorted(before.area_ids), "email": before.email,
           "display_name": before.display_name, "party_id": before.party_id}
    changed = {k: {"from": was[k], "to": after[k]} for k in after if was[k] != after[k]}
    if not changed:
        return {}
    try:
        with conn.transaction():
            conn.execute(
                "UPDATE users SET role = %s, active = %s, email = %s, display_name = %s, party_id = %s,"
                " session_version = session_version + CASE WHEN %s THEN 1 ELSE 0 END, updated_at = now()"
                " WHERE id = %s",
                (role, after["active"], email, after["display_name"], party_id,
                 before.active and not after["active"], user_id),
            )
            _set_areas(conn, user_id, after["area_ids"])
            if not after["active"]:
                close_all_sessions(conn, user_id)
    except psycopg.errors.UniqueViolation:
        raise UsernameTaken({"email": "is taken"}, "That e-mail address is already in use.") from None
    if "email" in changed:
        # The audit log says that the address changed, not what it is.
        changed["email"] = {"from": "(hidden)", "to": "(hidden)"}
    return changed


def open_session(conn: psycopg.Connection, user_id: int, hours: float) -> str:
    """Record a new signed-in session; returns its id (for the cookie; only its hash is stored)."""
    session_id, digest = tokens.new_token()
    # The user's own expired sessions are swept here, so the table holds live sessions and a few stale ones.
    conn.execute("DELETE FROM user_sessions WHERE user_id = %s AND expires_at <= now()", (user_id,))
    conn.execute("INSERT INTO user_sessions (id_hash, user_id, expires_at)"
                 " VALUES (%s, %s, now() + make_interval(secs => %s))", (digest, user_id, hours * 3600))
    return session_id


def session_account(conn: psycopg.Connection, session_id: str | None) -> Account | None:
    """The active account of a live session, or None (unknown, ended or expired session, inactive account)."""
    if not isinstance(session_id, str) or not session_id or len(session_id) > tokens.MAX_TOKEN_LENGTH:
        return None
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"SELECT {_COLUMNS} FROM users u JOIN user_sessions s ON s.user_id = u.id"
            " WHERE s.id_hash = %s AND s.expires_at > now() AND u.active", (tokens.hash_token(session_id),)).fetchone()
    return _account(row)


def close_session(conn: psycopg.Connection, session_id: str | None) -> None:
    """End one session (sign-out)."""
    if isinstance(session_id, str) and session_id:
        conn.execute("DELETE FROM user_sessions WHERE id_hash = %s", (tokens.hash_token(session_id),))


def close_all_sessions(conn: psycopg.Connection, user_id: int) -> None:
    """End every session of an account."""
    conn.execute("DELETE FROM user_sessions WHERE user_id = %s", (user_id,))


def set_password(conn: psycopg.Connection, user_id: int, password: str) -> None:
    """Replace a password and end every session of the account (session_version is bumped)."""
    problem = passwords.problem(password)
    if problem:
        raise ValidationError({"password": problem})
    row = conn.execute(
        "UPDATE users SET password_hash = %s, session_version = session_version + 1, updated_at = now()"
        " WHERE id = %s RETURNING id", (passwords.hash_password(password), user_id)).fetchone()
    if row is None:
        raise LookupError(f"no user {user_id}")
    close_all_sessions(conn, user_id)


def authenticate(conn: psycopg.Connection, username: str, password: str) -> Account:
    """The active account these credentials open; InvalidCredentials otherwise, in about the same time."""
    account = find_user(conn, username) if isinstance(password, str) else None
    if account is None or not account.active:
        # As slow as a real check, so that timing does not tell which usernames exist.
        passwords.burn_time(password if isinstance(password, str) else "")
        raise InvalidCredentials()
    if not passwords.verify(account.password_hash, password):
        raise InvalidCredentials()
    if passwords.needs_rehash(account.password_hash):
        conn.execute("UPDATE users SET password_hash = %s WHERE id = %s",
                     (passwords.hash_password(password), account.id))
    conn.execute("UPDATE users SET last_login_at = now() WHERE id = %s", (account.id,))
    return account


_LIST = """
SELECT u.id, u.username, u.email, u.display_name, u.role, u.active, u.party_id, p.name AS party_name,
       u.created_at, u.last_login_at,
       ARRAY(SELECT ua.area_id FROM user_areas ua WHERE ua.user_id = u.id ORDER BY ua.area_id) AS area_ids,
       ARRAY(SELECT a.code FROM user_areas ua JOIN areas a ON a.id = ua.area_id
             WHERE ua.user_id = u.id ORDER BY a.code) AS area_codes
FROM users u LEFT JOIN parties p ON p.id = u.party_id
"""


def list_users(conn: psycopg.Connection, *, limit: int = 500, offset: int = 0) -> list[dict]:
    """Accounts for the admin pages, by username; private fields included (callers redact for the viewer)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(_LIST + " ORDER BY lower(u.username) LIMIT %s OFFSET %s", (limit, offset)).fetchall()


def user_row(conn: psycopg.Connection, user_id: int) -> dict | None:
    """One account as list_users() shows it."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(_LIST + " WHERE u.id = %s", (user_id,)).fetchone()


def redact_user(actor: Actor, user: dict) -> dict:
    """A copy of a user row without what this actor may not see (the e-mail address, unless staff of its areas)."""
    out = dict(user)
    out.pop("password_hash", None)
    if "email" in out and not may_view_email(actor, user):
        out["email"] = None
    return out


def may_view_email(actor: Actor, user: dict) -> bool:
    """The user themself, admins, and staff of one of the user's areas may see their e-mail address."""
    if actor.user_id is not None and actor.user_id == user.get("id"):
        return True
    areas = user.get("area_ids") or ()
    if not areas:
        return permissions.may(actor, "user.view_email", {"area_id": None})
    return any(permissions.may(actor, "user.view_email", {"area_id": a}) for a in areas)
