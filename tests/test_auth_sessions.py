"""Sessions and API tokens: sign-in, fixation, tampering, sign-out, password changes, token validity and scope."""
from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

import helpers
from geodata import accounts, audit, passwords, permissions, tokens
from apps import app_for
from webmap import create_app
from webmap import db as webdb

COOKIE = "session"


@pytest.fixture(scope="module")
def app(database_url):
    with app_for(database_url) as app:
        yield app


@pytest.fixture(autouse=True)
def _fresh_limits(conn):
    conn.execute("DELETE FROM rate_limits")


@pytest.fixture
def user(conn):
    """A resident with a known password; returns (id, username)."""
    name = f"sess-{secrets.token_hex(4)}"
    return helpers.make_user(conn, "resident", username=name, email=f"{name}@example.org"), name


def _cookie(client) -> str | None:
    cookie = client.get_cookie(COOKIE)
    return cookie.value if cookie else None


def _whoami(app, cookie_value: str | None = None, headers=None) -> str:
    other = app.test_client()
    if cookie_value is not None:
        other.set_cookie(COOKIE, cookie_value)
    return other.get("/api/me", headers=headers or {}).get_json()["role"]


def _login_form(client, username, password):
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": helpers.csrf_token(client)})


# ---------------------------------------------------------------- sessions


def test_login_sets_a_hardened_cookie_and_redirects_only_within_the_site(client, user):
    helpers.csrf_token(client)
    resp = client.post("/login", data={"username": user[1], "password": helpers.DEFAULT_PASSWORD,
                                       "csrf_token": helpers.csrf_token(client), "next": "https://evil.example/x"})
    assert resp.status_code == 302 and resp.headers["Location"] == "/"
    header = resp.headers["Set-Cookie"]
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Secure" not in header
    assert _whoami(client.application, _cookie(client)) == "resident"


def test_secure_cookie_flag_comes_from_the_environment(database_url, monkeypatch, user):
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "1")
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "test"})
    try:
        client = app.test_client()
        resp = client.get("/login", base_url="https://localhost")
        assert "Secure" in resp.headers["Set-Cookie"]
    finally:
        webdb.close_pool(app)


def test_session_cookie_is_reissued_at_login(app, client, user):
    helpers.csrf_token(client)
    before = _cookie(client)
    assert before is not None
    helpers.login(client, user[1])
    after = _cookie(client)
    assert after != before
    # A cookie planted before sign-in (session fixation) does not become signed in.
    assert _whoami(app, before) == "anonymous"
    assert _whoami(app, after) == "resident"


def test_tampered_cookie_is_anonymous(app, client, user):
    helpers.login(client, user[1])
    value = _cookie(client)
    payload, _, signature = value.rpartition(".")
    # The first character: the last one of a base64 signature partly holds padding bits that nobody checks.
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert _whoami(app, f"{payload}.{flipped}") == "anonymous"
    assert _whoami(app, f"{payload[:-2]}xy.{signature}") == "anonymous"
    assert _whoami(app, "garbage") == "anonymous"
    resp = app.test_client()
    resp.set_cookie(COOKIE, f"{payload}.{flipped}")
    page = resp.get("/admin/users")
    assert page.status_code == 302 and "/login" in page.headers["Location"]


def test_logout_ends_the_session_even_for_a_copied_cookie(app, client, user):
    csrf = helpers.login(client, user[1])
    copy = _cookie(client)
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 302
    assert client.get("/api/me").get_json()["role"] == "anonymous"
    assert _whoami(app, copy) == "anonymous"


def test_password_change_ends_other_sessions_and_keeps_this_one(app, conn, user):
    phone, laptop = app.test_client(), app.test_client()
    helpers.login(phone, user[1])
    csrf = helpers.login(laptop, user[1])
    version = conn.execute("SELECT session_version FROM users WHERE id = %s", (user[0],)).fetchone()[0]
    resp = laptop.post("/account/password", data={"current_password": helpers.DEFAULT_PASSWORD,
                                                  "password": "a-New-secret-42", "password2": "a-New-secret-42",
                                                  "csrf_token": csrf})
    assert resp.status_code == 302
    assert conn.execute("SELECT session_version FROM users WHERE id = %s", (user[0],)).fetchone()[0] == version + 1
    assert phone.get("/api/me").get_json()["role"] == "anonymous"
    assert laptop.get("/api/me").get_json()["role"] == "resident"
    # The old password is gone, the new one works.
    assert _login_form(app.test_client(), user[1], helpers.DEFAULT_PASSWORD).status_code == 401
    assert _login_form(app.test_client(), user[1], "a-New-secret-42").status_code == 302
    assert conn.execute("SELECT count(*) FROM audit_log WHERE action = 'user.password_change' AND object_id = %s",
                        (str(user[0]),)).fetchone()[0] == 1


def test_password_change_needs_the_current_password(app, client, user):
    csrf = helpers.login(client, user[1])
    resp = client.post("/account/password", data={"current_password": "wrong", "password": "a-New-secret-42",
                                                  "password2": "a-New-secret-42", "csrf_token": csrf})
    assert resp.status_code == 400
    assert client.get("/api/me").get_json()["role"] == "resident"


def test_session_version_bump_alone_ends_sessions(app, conn, client, user):
    helpers.login(client, user[1])
    conn.execute("UPDATE users SET session_version = session_version + 1 WHERE id = %s", (user[0],))
    assert client.get("/api/me").get_json()["role"] == "anonymous"


def test_deactivation_ends_sessions_and_tokens(app, conn, client, user):
    helpers.login(client, user[1])
    headers = helpers.token_headers(conn, user[0])
    accounts.update_user(conn, user[0], role="resident", active=False, area_ids=[])
    assert client.get("/api/me").get_json()["role"] == "anonymous"
    assert app.test_client().get("/api/me", headers=headers).status_code == 401
    assert _login_form(app.test_client(), user[1], helpers.DEFAULT_PASSWORD).status_code == 401


def test_role_change_applies_to_the_next_request(app, conn, client, user):
    helpers.login(client, user[1])
    assert client.get("/api/audit").status_code == 403
    accounts.update_user(conn, user[0], role="admin", active=True, area_ids=[])
    assert client.get("/api/audit").status_code == 200


def _main_of(resp, username: str) -> str:
    body = resp.get_data(as_text=True).split("<main", 1)[1]
    return re.sub(r'name="csrf_token" value="[^"]*"', "", body).replace(username, "NAME")


def test_wrong_password_and_unknown_user_look_the_same(app, user):
    nobody = f"nobody-{secrets.token_hex(4)}"
    wrong = _login_form(app.test_client(), user[1], "not-the-password")
    unknown = _login_form(app.test_client(), nobody, "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    assert _main_of(wrong, user[1]) == _main_of(unknown, nobody)
    assert "用户名或密码不正确" in _main_of(wrong, user[1])  # Chinese unless the browser asks for English
    # That both cost one hash check is counted in the next test; timings are too noisy to assert here.


def test_unknown_and_inactive_users_cost_one_hash_check_like_a_wrong_password(conn, user, monkeypatch):
    checks = []
    real = passwords.verify
    monkeypatch.setattr(passwords, "verify", lambda h, p: checks.append(h) or real(h, p))
    inactive = helpers.make_user(conn, "resident", active=False)
    inactive_name = conn.execute("SELECT username FROM users WHERE id = %s", (inactive,)).fetchone()[0]
    for name in (user[1], f"nobody-{secrets.token_hex(4)}", inactive_name):
        checks.clear()
        with pytest.raises(accounts.InvalidCredentials):
            accounts.authenticate(conn, name, "not-the-password")
        # Exactly one argon2id verification each, so the time taken does not tell them apart.
        assert len(checks) == 1, name


def test_production_hashes_are_argon2id_with_rfc9106_parameters(monkeypatch):
    for name in passwords.DEFAULTS:
        monkeypatch.delenv(name, raising=False)
    stored = passwords.hash_password("pw-Secret-123")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    # A hash made with other parameters (the tests' cheap ones, an older setting) is replaced at sign-in.
    monkeypatch.setenv("PASSWORD_ARGON2_MEMORY_KIB", "2048")
    assert passwords.needs_rehash(stored) and passwords.verify(stored, "pw-Secret-123")


def test_bad_login_input_is_a_clear_4xx(app):
    client = app.test_client()
    assert client.post("/login", data={"csrf_token": helpers.csrf_token(client)}).status_code == 401
    assert client.post("/login", data={"username": "x" * 5000, "password": "p",
                                       "csrf_token": helpers.csrf_token(client)}).status_code == 401
    # Long, incompressible input must not reach an index key of the lockout counters.
    assert client.post("/login", data={"username": secrets.token_hex(4000), "password": secrets.token_hex(4000),
                                       "csrf_token": helpers.csrf_token(client)}).status_code == 401


def test_register_signs_a_resident_in(app, conn, client):
    name = f"newbie-{secrets.token_hex(3)}"
    csrf = helpers.csrf_token(client, "/register")
    form = {"username": name, "password": "long-enough-1", "password2": "long-enough-1", "csrf_token": csrf,
            "email": f"{name}@example.org"}
    resp = client.post("/register", data=form)
    assert resp.status_code == 302
    me = client.get("/api/me").get_json()
    assert me["role"] == "resident" and me["user"]["username"] == name
    assert me["user"]["email"] == f"{name}@example.org"  # one's own address is one's own to see
    # The same name again, a short password, a mismatch: 400 with the form again.
    again = app.test_client()
    form["csrf_token"] = helpers.csrf_token(again, "/register")
    assert again.post("/register", data=form).status_code == 400
    bad = {**form, "username": f"x{name}", "password": "short", "password2": "short"}
    assert again.post("/register", data=bad).status_code == 400
    assert conn.execute("SELECT role FROM users WHERE username = %s", (name,)).fetchone()[0] == "resident"


def test_register_cannot_choose_a_role(app, conn, client):
    name = f"sneaky-{secrets.token_hex(3)}"
    client.post("/register", data={"username": name, "password": "long-enough-1", "password2": "long-enough-1",
                                   "role": "admin", "csrf_token": helpers.csrf_token(client, "/register")})
    assert conn.execute("SELECT role FROM users WHERE username = %s", (name,)).fetchone()[0] == "resident"


# ---------------------------------------------------------------- API tokens


def test_token_authenticates_with_its_role(app, conn, user):
    headers = helpers.token_headers(conn, user[0])
    me = app.test_client().get("/api/me", headers=headers).get_json()
    assert me["role"] == "resident" and me["via_token"] is True


def test_wrong_revoked_and_expired_tokens_are_401(app, conn, user):
    client = app.test_client()
    for headers in ({"Authorization": "Bearer wm_not-a-token"}, {"Authorization": "Bearer "},
                    {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer " + "x" * 5000}):
        resp = client.get("/api/me", headers=headers)
        assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "invalid_token"
    token = helpers.make_token(conn, user[0])
    token_id = conn.execute("SELECT id FROM api_tokens WHERE token_hash = %s", (tokens.hash_token(token),)).fetchone()[0]
    assert client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert tokens.revoke(conn, token_id)
    resp = client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "invalid_token"
    expired = helpers.make_token(conn, user[0], expires_at=datetime.now(timezone.utc) - timedelta(seconds=1))
    assert client.get("/api/me", headers={"Authorization": f"Bearer {expired}"}).status_code == 401
    later = helpers.make_token(conn, user[0], expires_at=datetime.now(timezone.utc) + timedelta(days=1))
    assert client.get("/api/me", headers={"Authorization": f"Bearer {later}"}).status_code == 200
    # A bad token is refused on pages and on writes too, never silently treated as anonymous.
    assert client.get("/login", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert client.post("/api/issues", json={}, headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_only_the_hash_of_a_token_is_stored(conn, user):
    token = helpers.make_token(conn, user[0])
    stored = conn.execute("SELECT token_hash, prefix FROM api_tokens ORDER BY id DESC LIMIT 1").fetchone()
    assert stored[0] == tokens.hash_token(token) and token not in stored
    assert token.startswith(stored[1]) and len(stored[1]) < 12


def test_token_role_is_scoped_and_never_above_the_user(app, conn):
    admin = helpers.make_user(conn, "admin")
    official = helpers.make_user(conn, "official")
    client = app.test_client()
    assert client.get("/api/audit", headers=helpers.token_headers(conn, admin)).status_code == 200
    as_resident = helpers.token_headers(conn, admin, role="resident")
    assert client.get("/api/me", headers=as_resident).get_json()["role"] == "resident"
    assert client.get("/api/audit", headers=as_resident).status_code == 403
    with pytest.raises(tokens.TokenRoleNotAllowed):
        helpers.make_token(conn, official, role="admin")
    with pytest.raises(tokens.TokenRoleNotAllowed):
        helpers.make_token(conn, official, role="social_worker")


def test_tokens_are_made_and_revoked_by_admins_in_the_web_ui(app, conn, user):
    admin = helpers.make_user(conn, "admin", username=f"tokadm-{secrets.token_hex(3)}")
    client = app.test_client()
    name = conn.execute("SELECT username FROM users WHERE id = %s", (admin,)).fetchone()[0]
    csrf = helpers.login(client, name)
    resp = client.post("/admin/tokens", data={"username": user[1], "name": "importer", "expires_days": "7",
                                              "csrf_token": csrf})
    assert resp.status_code == 201 and resp.headers["Cache-Control"] == "no-store"
    page = resp.get_data(as_text=True)
    token = page.split('id="new-token">')[1].split("<")[0]
    assert app.test_client().get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    # Shown once: the list never shows it again.
    assert token not in client.get("/admin/tokens").get_data(as_text=True)
    too_high = client.post("/admin/tokens", data={"username": user[1], "name": "x", "role": "admin",
                                                  "csrf_token": csrf})
    assert too_high.status_code == 400
    token_id = conn.execute("SELECT id FROM api_tokens WHERE token_hash = %s", (tokens.hash_token(token),)).fetchone()[0]
    assert client.post(f"/admin/tokens/{token_id}/revoke", data={"csrf_token": csrf}).status_code == 302
    assert app.test_client().get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    actions = [r[0] for r in conn.execute(
        "SELECT action FROM audit_log WHERE object_type = 'api_token' AND object_id = %s ORDER BY id",
        (str(token_id),))]
    assert actions == ["token.create", "token.revoke"]


def test_actor_areas_include_everything_below(conn):
    tag = secrets.token_hex(3)
    square = "POLYGON((116.30 39.93, 116.32 39.93, 116.32 39.95, 116.30 39.95, 116.30 39.93))"

    def area(code, level, parent=None):
        return conn.execute("INSERT INTO areas (code, name, level, parent_id, geom, source) VALUES"
                            " (%s, %s, %s, %s, ST_Multi(ST_GeomFromText(%s, 4326)), 'test') RETURNING id",
                            (code, code, level, parent, square)).fetchone()[0]

    street = area(f"ST-{tag}", "street")
    community = area(f"CO-{tag}", "community", street)
    grid = area(f"GR-{tag}", "grid", community)
    other = area(f"OT-{tag}", "community")
    uid = helpers.make_user(conn, "official", areas=[f"ST-{tag}"])
    actor = accounts.actor_for(conn, accounts.load_user(conn, uid))
    assert actor.area_ids == {street, community, grid}
    assert permissions.may(actor, "dashboard.view", {"area_id": grid})
    assert not permissions.may(actor, "dashboard.view", {"area_id": other})


def test_audit_log_is_append_only(conn):
    entry = audit.record(conn, audit.command_line_actor(), "test.entry", "thing", 1, {"k": "v"})
    with pytest.raises(psycopg.errors.RaiseException):
        conn.execute("UPDATE audit_log SET action = 'x' WHERE id = %s", (entry,))
    with pytest.raises(psycopg.errors.RaiseException):
        conn.execute("DELETE FROM audit_log WHERE id = %s", (entry,))
