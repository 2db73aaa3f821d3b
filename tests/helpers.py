"""Helpers for tests that need accounts: users, API tokens, and a signed-in test client.

    uid = make_user(conn, "social_worker", areas=[area_id])      # areas: ids or codes
    client.get("/api/...", headers=token_headers(conn, uid))      # Authorization: Bearer ...
    csrf = login(client, "name", "pw-Secret-123")                  # then: headers={"X-CSRFToken": csrf}
"""
from __future__ import annotations

import functools
import itertools
import re

from geodata import accounts, passwords, tokens

DEFAULT_PASSWORD = "pw-Secret-123"
_serial = itertools.count(1)
_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


@functools.cache
def _hash(password: str) -> str:
    # One argon2 hash per distinct password for the whole run: hashing costs ~50 ms each.
    return passwords.hash_password(password)


def make_user(conn, role: str, *, areas=(), party_id: int | None = None, username: str | None = None,
              password: str = DEFAULT_PASSWORD, email: str | None = None, active: bool = True) -> int:
    """Create an account (areas as ids or codes) and return its id."""
    username = username or f"{role}-{next(_serial)}-{conn.info.backend_pid}"
    codes = [a for a in areas if isinstance(a, str)]
    area_ids = [a for a in areas if not isinstance(a, str)] + accounts.area_ids_for_codes(conn, codes)
    user_id = accounts.create_user(conn, username, None, role, email=email, party_id=party_id, area_ids=area_ids,
                                   password_hash=_hash(password))
    if not active:
        conn.execute("UPDATE users SET active = false WHERE id = %s", (user_id,))
    return user_id


def make_token(conn, user_id: int, role: str | None = None, *, expires_at=None, name: str = "test") -> str:
    """A new API token for the user (with the user's role unless given); returns the token itself."""
    if role is None:
        role = conn.execute("SELECT role FROM users WHERE id = %s", (user_id,)).fetchone()[0]
    return tokens.create_api_token(conn, user_id, role, name, expires_at=expires_at).token


def token_headers(conn, user_id: int, role: str | None = None) -> dict:
    """Request headers that authenticate as the user through a new API token."""
    return {"Authorization": f"Bearer {make_token(conn, user_id, role)}"}


def csrf_token(client, path: str = "/login") -> str:
    """The CSRF token of the client's current session, read from a page's <meta name="csrf-token">."""
    page = client.get(path).get_data(as_text=True)
    found = _META.search(page)
    assert found, f"no csrf-token meta tag on {path}"
    return found.group(1)


def login(client, username: str, password: str = DEFAULT_PASSWORD) -> str:
    """Sign the test client in through the login form; returns the new session's CSRF token."""
    resp = client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": csrf_token(client)})
    assert resp.status_code == 302, f"login of {username} failed with {resp.status_code}"
    # The session is re-issued at sign-in, and with it the CSRF token.
    return csrf_token(client, "/account")
