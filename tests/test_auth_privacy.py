"""Privacy: e-mail addresses and contacts reach only staff of the area, and no public answer carries them.

The sweep requests every GET route of the app's url_map as an anonymous client. To cover your routes'
private fields, plant them in `planted` (a fixture) and give placeholder values for new URL arguments in
ARG_VALUES.
"""
from __future__ import annotations

import secrets

import psycopg
import pytest
from werkzeug.routing import AnyConverter

import helpers
from geodata import accounts
from geodata.permissions import Actor
from apps import app_for

SQUARE = "POLYGON((116.30 39.93, 116.32 39.93, 116.32 39.95, 116.30 39.95, 116.30 39.93))"
FAR = "POLYGON((116.40 39.93, 116.42 39.93, 116.42 39.95, 116.40 39.95, 116.40 39.93))"


@pytest.fixture(scope="module")
def app(database_url):
    with app_for(database_url) as app:
        yield app


@pytest.fixture(scope="module")
def planted(database_url):
    """A community with a resident whose e-mail and whose party's contact are secrets, and staff around it."""
    tag = secrets.token_hex(4)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM rate_limits")
        area = conn.execute(
            "INSERT INTO areas (code, name, level, geom, source) VALUES"
            " (%s, 'planted', 'community', ST_Multi(ST_GeomFromText(%s, 4326)), 'test') RETURNING id",
            (f"PV-{tag}", SQUARE)).fetchone()[0]
        far = conn.execute(
            "INSERT INTO areas (code, name, level, geom, source) VALUES"
            " (%s, 'far', 'community', ST_Multi(ST_GeomFromText(%s, 4326)), 'test') RETURNING id",
            (f"PF-{tag}", FAR)).fetchone()[0]
        email = f"planted-email-{tag}@example.org"
        contact = f"139{tag[:8]} planted-party-contact-{tag}"
        party = conn.execute("INSERT INTO parties (kind, name, contact, area_id) VALUES"
                             " ('volunteer_group', %s, %s, %s) RETURNING id",
                             (f"队{tag}", contact, area)).fetchone()[0]
        user_id = helpers.make_user(conn, "volunteer", areas=[area], party_id=party, username=f"pv-{tag}",
                                    email=email)
        yield {"email": email, "contact": contact, "user_id": user_id, "area": area, "far": far, "party": party,
               "secrets": [email, contact, f"planted-email-{tag}", f"planted-party-contact-{tag}"]}


# Values for URL arguments by name; anything else gets "1". Each route is requested with every combination
# of its arguments' values, so a route that answers for one id and not another is still covered.
ARG_VALUES = {
    "user_id": lambda p: [p["user_id"]],
    "token_id": lambda p: [1],
    "issue_id": lambda p: [1],
    "comment_id": lambda p: [1],
    "service_request_id": lambda p: ["1"],
    "service_code": lambda p: ["litter"],
    "package": lambda p: ["leaflet"],
    "filename": lambda p: ["leaflet.js"],
    "z": lambda p: ["14"],
    "x": lambda p: ["13492"],
    "y": lambda p: ["6201"],
}
# Query strings worth adding to a route (filters that could widen what a list shows).
QUERIES = {
    "/api/areas": ["", "?level=community"],
    "/api/audit": ["", "?limit=500"],
}


def _urls(app, planted):
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        combos = [{}]
        for name in rule.arguments:
            converter = rule._converters.get(name)
            if isinstance(converter, AnyConverter):
                values = sorted(converter.items)
            else:
                values = ARG_VALUES.get(name, lambda p: ["1"])(planted)
            combos = [{**c, name: v} for c in combos for v in values]
        for args in combos:
            try:
                path = rule.build(args, append_unknown=False)[1]
            except Exception:  # noqa: BLE001 - a converter refusing our placeholder just skips that combination
                continue
            for query in QUERIES.get(rule.rule, [""]):
                yield rule.rule, path + query


def test_no_public_answer_carries_private_fields(app, planted):
    client = app.test_client()
    seen = 0
    for rule, url in _urls(app, planted):
        resp = client.get(url)
        body = resp.get_data()
        for secret in planted["secrets"]:
            assert secret.encode() not in body, f"{url} ({rule}) shows {secret!r}"
        seen += 1
    assert seen >= 20


def test_a_resident_and_out_of_area_staff_do_not_see_the_email_either(app, planted, conn):
    for role, areas in (("resident", [planted["area"]]), ("social_worker", [planted["far"]]),
                        ("official", [planted["far"]])):
        headers = helpers.token_headers(conn, helpers.make_user(conn, role, areas=areas))
        client = app.test_client()
        for url in ("/api/me", "/admin/users", f"/admin/users/{planted['user_id']}"):
            body = client.get(url, headers=headers).get_data(as_text=True)
            assert planted["email"] not in body, (role, url)


def test_the_user_and_admins_see_the_email(app, planted, conn):
    own = app.test_client().get("/api/me", headers=helpers.token_headers(conn, planted["user_id"])).get_json()
    assert own["user"]["email"] == planted["email"]
    admin = helpers.token_headers(conn, helpers.make_user(conn, "admin"))
    assert planted["email"] in app.test_client().get("/admin/users", headers=admin).get_data(as_text=True)


def test_redact_user_follows_the_permission_table(planted):
    row = {"id": planted["user_id"], "email": planted["email"], "area_ids": [planted["area"]],
           "password_hash": "secret"}
    staff_here = Actor(role="social_worker", user_id=1, area_ids=frozenset({planted["area"]}))
    official_here = Actor(role="official", user_id=2, area_ids=frozenset({planted["area"]}))
    staff_far = Actor(role="social_worker", user_id=3, area_ids=frozenset({planted["far"]}))
    volunteer_here = Actor(role="volunteer", user_id=4, area_ids=frozenset({planted["area"]}))
    assert accounts.redact_user(staff_here, row)["email"] == planted["email"]
    assert accounts.redact_user(official_here, row)["email"] == planted["email"]
    assert accounts.redact_user(staff_far, row)["email"] is None
    assert accounts.redact_user(volunteer_here, row)["email"] is None
    assert accounts.redact_user(Actor(), row)["email"] is None
    assert accounts.redact_user(Actor(role="admin", user_id=9), row)["email"] == planted["email"]
    assert accounts.redact_user(Actor(role="resident", user_id=planted["user_id"]), row)["email"] == planted["email"]
    assert "password_hash" not in accounts.redact_user(staff_here, row)
    # A user with no area: only admins and the user.
    lonely = {**row, "area_ids": []}
    assert accounts.redact_user(staff_here, lonely)["email"] is None


def test_user_text_is_escaped_on_admin_pages(app, conn):
    name = f"esc-{secrets.token_hex(3)}"
    uid = helpers.make_user(conn, "resident", username=name)
    conn.execute("UPDATE users SET display_name = %s WHERE id = %s", ("<script>alert(1)</script>", uid))
    admin = helpers.token_headers(conn, helpers.make_user(conn, "admin"))
    for url in ("/admin/users", f"/admin/users/{uid}"):
        body = app.test_client().get(url, headers=admin).get_data(as_text=True)
        assert "<script>alert(1)</script>" not in body
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
