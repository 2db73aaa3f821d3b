"""CSRF: every form and every cookie-authenticated state change needs the token; tokens and cookieless
anonymous API clients do not."""
from __future__ import annotations

import secrets

import psycopg
import pytest

import helpers
from apps import app_for
from webmap import create_app
from webmap import db as webdb

SQUARE = "POLYGON((116.30 39.93, 116.32 39.93, 116.32 39.95, 116.30 39.95, 116.30 39.93))"
REPORT = {"lat": 39.94, "lon": 116.31, "category": "litter", "description": "Bags of rubbish by the gate"}


@pytest.fixture(scope="module")
def app(database_url):
    with app_for(database_url, RATE_LIMIT_REPORTS="1000 per hour") as app:
        yield app


@pytest.fixture(scope="module")
def people(database_url):
    tag = secrets.token_hex(3)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM rate_limits")
        conn.execute(
            "INSERT INTO areas (code, name, level, geom, source)"
            " VALUES (%s, '社区', 'community', ST_Multi(ST_GeomFromText(%s, 4326)), 'test')",
            (f"CSRF-{tag}", SQUARE))
        resident = helpers.make_user(conn, "resident", username=f"csrf-res-{tag}")
        admin = helpers.make_user(conn, "admin", username=f"csrf-adm-{tag}")
        yield {"resident": f"csrf-res-{tag}", "admin": f"csrf-adm-{tag}",
               "resident_token": helpers.token_headers(conn, resident), "admin_id": admin}


def _json_error(resp, status, code):
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.get_json()["error"]["code"] == code


def test_pages_carry_the_token_in_a_meta_tag(client):
    page = client.get("/login").get_data(as_text=True)
    assert '<meta name="csrf-token" content="' in page
    assert 'name="csrf_token"' in page


def test_form_without_token_is_refused_with_an_html_page(client, people):
    resp = client.post("/login", data={"username": people["resident"], "password": helpers.DEFAULT_PASSWORD})
    assert resp.status_code == 400
    assert resp.mimetype == "text/html"
    assert "CSRF" in resp.get_data(as_text=True)
    # Nobody was signed in by it.
    assert client.get("/api/me").get_json()["role"] == "anonymous"


def test_form_with_a_wrong_token_is_refused(client, people):
    helpers.csrf_token(client)
    resp = client.post("/login", data={"username": people["resident"], "password": helpers.DEFAULT_PASSWORD,
                                       "csrf_token": "not-the-token"})
    assert resp.status_code == 400


def test_a_token_from_another_session_is_refused(app, client, people):
    other = app.test_client()
    foreign = helpers.csrf_token(other)
    helpers.csrf_token(client)
    resp = client.post("/login", data={"username": people["resident"], "password": helpers.DEFAULT_PASSWORD,
                                       "csrf_token": foreign})
    assert resp.status_code == 400


def test_logout_needs_the_token(client, people):
    helpers.login(client, people["resident"])
    assert client.post("/logout").status_code == 400
    assert client.get("/api/me").get_json()["role"] == "resident"


def test_json_with_session_cookie_needs_the_header(client, people):
    csrf = helpers.login(client, people["resident"])
    _json_error(client.post("/api/issues", json=REPORT), 400, "csrf_failed")
    _json_error(client.post("/api/issues", json=REPORT, headers={"X-CSRFToken": "forged"}), 400, "csrf_failed")
    created = client.post("/api/issues", json=REPORT, headers={"X-CSRFToken": csrf})
    assert created.status_code == 201, created.get_data(as_text=True)


def test_anonymous_browser_with_a_session_cookie_needs_the_header(client):
    csrf = helpers.csrf_token(client)  # visiting a page gave it a session cookie
    _json_error(client.post("/api/issues", json=REPORT), 400, "csrf_failed")
    assert client.post("/api/issues", json=REPORT, headers={"X-CSRFToken": csrf}).status_code == 201


def test_cookieless_anonymous_api_client_is_exempt(client, people):  # people: the community it reports into
    assert client.post("/api/issues", json=REPORT).status_code == 201


def test_bearer_token_requests_are_exempt_even_with_a_cookie(client, people):
    helpers.login(client, people["admin"])
    resp = client.post("/api/issues", json=REPORT, headers=people["resident_token"])
    assert resp.status_code == 201
    # The token, not the admin's session, is who acted.
    assert client.get("/api/me", headers=people["resident_token"]).get_json()["role"] == "resident"


def test_bearer_token_page_post_is_exempt(app, database_url, people):
    with psycopg.connect(database_url, autocommit=True) as conn:
        headers = helpers.token_headers(conn, people["admin_id"])
    resp = app.test_client().post("/admin/tokens", data={"username": people["resident"], "name": "by token"},
                                  headers=headers)
    assert resp.status_code == 201


def test_csrf_can_be_switched_off_only_by_config(database_url, people):
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "test",
                      "WTF_CSRF_ENABLED": False})
    try:
        resp = app.test_client().post("/login", data={"username": people["resident"], "password": "wrong-password"})
        assert resp.status_code == 401
    finally:
        webdb.close_pool(app)
