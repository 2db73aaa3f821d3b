"""Account administration: the admin pages, the audit log (page and API) and the command line."""
from __future__ import annotations

import secrets

import pytest

import helpers
from geodata import accounts, audit, passwords
from apps import app_for

SQUARE = "POLYGON((116.30 39.93, 116.32 39.93, 116.32 39.95, 116.30 39.95, 116.30 39.93))"


@pytest.fixture(scope="module")
def app(database_url):
    with app_for(database_url) as app:
        yield app


@pytest.fixture
def tag():
    return secrets.token_hex(3)


@pytest.fixture
def area_code(conn, tag):
    code = f"AD-{tag}"
    conn.execute("INSERT INTO areas (code, name, level, geom, source)"
                 " VALUES (%s, %s, 'community', ST_Multi(ST_GeomFromText(%s, 4326)), 'test')", (code, code, SQUARE))
    return code


@pytest.fixture
def admin(app, conn, tag):
    """A signed-in admin client and its CSRF token."""
    conn.execute("DELETE FROM rate_limits")
    name = f"adm-{tag}"
    helpers.make_user(conn, "admin", username=name)
    client = app.test_client()
    return client, helpers.login(client, name)


def test_admin_creates_edits_and_resets_a_staff_account(app, conn, admin, area_code, tag):
    client, csrf = admin
    name = f"off-{tag}"
    resp = client.post("/admin/users/new", data={"username": name, "role": "official", "areas": area_code,
                                                 "email": f"{name}@example.org", "password": "first-Secret-1",
                                                 "active": "on", "csrf_token": csrf})
    assert resp.status_code == 302
    user = accounts.find_user(conn, name)
    assert user.role == "official" and len(user.area_ids) == 1 and user.active
    assert passwords.verify(user.password_hash, "first-Secret-1")
    # Unknown area codes and bad input come back as the form with a 400.
    bad = client.post("/admin/users/new", data={"username": f"x-{tag}", "role": "official", "areas": "NOPE-1",
                                                "password": "first-Secret-1", "csrf_token": csrf})
    assert bad.status_code == 400 and "NOPE-1" in bad.get_data(as_text=True)
    # The new official signs in, then the admin changes the role and resets the password.
    official = app.test_client()
    helpers.login(official, name, "first-Secret-1")
    resp = client.post(f"/admin/users/{user.id}", data={"role": "social_worker", "areas": area_code,
                                                        "active": "on", "csrf_token": csrf})
    assert resp.status_code == 302
    assert official.get("/api/me").get_json()["role"] == "social_worker"
    assert client.post(f"/admin/users/{user.id}/password", data={"password": "second-Secret-2",
                                                                 "csrf_token": csrf}).status_code == 302
    assert official.get("/api/me").get_json()["role"] == "anonymous"
    helpers.login(app.test_client(), name, "second-Secret-2")
    # Deactivated: sessions end and sign-in is refused.
    client.post(f"/admin/users/{user.id}", data={"role": "social_worker", "areas": "", "csrf_token": csrf})
    assert not accounts.find_user(conn, name).active
    rows = conn.execute("SELECT action, actor_role, details FROM audit_log WHERE object_type = 'user'"
                        " AND object_id = %s ORDER BY id", (str(user.id),)).fetchall()
    actions = [r[0] for r in rows if not r[0].startswith("auth.")]
    assert actions == ["user.create", "user.update", "user.password_reset", "user.update"]
    assert rows[-1][2]["active"] == {"from": True, "to": False}
    # The address changed hands without the log keeping it.
    assert f"{name}@example.org" not in str([r[2] for r in rows])


def test_admin_cannot_lock_themself_out(conn, admin, tag):
    client, csrf = admin
    me = accounts.find_user(conn, f"adm-{tag}")
    resp = client.post(f"/admin/users/{me.id}", data={"role": "official", "active": "on", "csrf_token": csrf})
    assert resp.status_code == 400
    assert accounts.find_user(conn, f"adm-{tag}").role == "admin"


def test_audit_page_and_api_are_newest_first_and_paginated(app, conn, admin):
    client, _ = admin
    marker = secrets.token_hex(4)
    ids = [audit.record(conn, audit.command_line_actor(), "test.page", "thing", i, {"marker": marker})
           for i in range(7)]
    first = client.get("/api/audit?limit=3").get_json()
    assert [e["id"] for e in first["entries"]] == ids[::-1][:3]
    assert first["next"]
    second = client.get(first["next"]).get_json()
    assert second["entries"][0]["id"] < first["entries"][-1]["id"]
    assert client.get("/api/audit?limit=0").status_code == 400
    assert client.get("/api/audit?before=x").status_code == 400
    page = client.get("/admin/audit").get_data(as_text=True)
    assert "test.page" in page and marker in page and "cli:" in page
    assert client.get(f"/admin/audit?before={ids[3]}").status_code == 200


def test_audit_record_for_other_modules(conn):
    staff = accounts.actor_for(conn, accounts.load_user(conn, helpers.make_user(conn, "social_worker")))
    entry = audit.record(conn, staff, "issue.assign", "issue", 42, {"party_id": 7})
    row = conn.execute("SELECT actor_id, actor_label, actor_role, action, object_type, object_id, details"
                       " FROM audit_log WHERE id = %s", (entry,)).fetchone()
    assert row == (staff.user_id, staff.username, "social_worker", "issue.assign", "issue", "42", {"party_id": 7})


# ---------------------------------------------------------------- command line


def test_cli_creates_the_first_admin_and_tokens(app, conn, area_code, tag):
    runner = app.test_cli_runner()
    name = f"first-{tag}"
    result = runner.invoke(args=["users", "create", "--role", "admin", "--username", name, "--password-stdin"],
                           input="the-First-admin-pw\n")
    assert result.exit_code == 0, result.output
    assert passwords.verify(accounts.find_user(conn, name).password_hash, "the-First-admin-pw")
    helpers.login(app.test_client(), name, "the-First-admin-pw")

    staff = f"cli-off-{tag}"
    result = runner.invoke(args=["users", "create", "--role", "official", "--username", staff, "--area", area_code,
                                 "--email", f"{staff}@example.org"], input="prompted-Secret-1\nprompted-Secret-1\n")
    assert result.exit_code == 0, result.output
    assert len(accounts.find_user(conn, staff).area_ids) == 1

    result = runner.invoke(args=["tokens", "create", "--user", staff, "--role", "resident", "--name", "importer"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[0]
    assert token.startswith("wm_")
    me = app.test_client().get("/api/me", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert me["role"] == "resident" and me["user"]["username"] == staff

    listed = runner.invoke(args=["tokens", "list"])
    assert token not in listed.output and token[:9] in listed.output
    token_id = listed.output.split(token[:9])[0].split()[-1]
    assert runner.invoke(args=["tokens", "revoke", token_id]).exit_code == 0
    assert app.test_client().get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401

    assert runner.invoke(args=["tokens", "create", "--user", staff, "--role", "admin", "--name", "x"]).exit_code != 0
    too_long = runner.invoke(args=["tokens", "create", "--user", staff, "--name", "x" * 101])
    assert too_long.exit_code == 1 and "error: name" in too_long.output and "Traceback" not in too_long.output
    assert runner.invoke(args=["users", "create", "--role", "official", "--username", f"u-{tag}", "--area",
                               "NO-SUCH", "--password-stdin"], input="long-Enough-1\n").exit_code != 0
    assert runner.invoke(args=["users", "create", "--role", "resident", "--username", f"v-{tag}",
                               "--password-stdin"], input="short\n").exit_code != 0
    assert runner.invoke(args=["users", "set-password", "--username", staff, "--password-stdin"],
                         input="changed-Secret-9\n").exit_code == 0
    labels = {r[0] for r in conn.execute("SELECT actor_label FROM audit_log WHERE details->>'username' = %s",
                                         (staff,))}
    assert labels and all(label.startswith("cli:") for label in labels)
