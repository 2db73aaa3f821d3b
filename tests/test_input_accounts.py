"""Odd input on the account, token, sign-in and audit pages: a 400 or a form error, never a server error."""
from __future__ import annotations

import secrets

import psycopg
import pytest

import helpers
from apps import app_for
from geodata import accounts, audit, tokens
from geodata.validation import ValidationError

SQUARE = "POLYGON((116.30 39.93, 116.32 39.93, 116.32 39.95, 116.30 39.95, 116.30 39.93))"
# Digits that str.isdigit() takes but int() or a URL reader should not: superscript two, Arabic-Indic three.
ODD_DIGITS = ("²", "٣")


@pytest.fixture(scope="module")
def app(database_url):
    with app_for(database_url) as app:
        yield app


@pytest.fixture(scope="module")
def world(app, database_url):
    """A signed-in admin (client, CSRF token), an admin API token, an area code, a party, and a staff account."""
    tag = secrets.token_hex(3)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM rate_limits")
        code = f"IA-{tag}"
        conn.execute("INSERT INTO areas (code, name, level, geom, source)"
                     " VALUES (%s, %s, 'community', ST_Multi(ST_GeomFromText(%s, 4326)), 'test')", (code, code, SQUARE))
        party = conn.execute("INSERT INTO parties (kind, name) VALUES ('volunteer_group', %s) RETURNING id",
                             (f"group {tag}",)).fetchone()[0]
        admin_id = helpers.make_user(conn, "admin", username=f"ia-adm-{tag}")
        staff_id = helpers.make_user(conn, "official", username=f"ia-off-{tag}")
        headers = helpers.token_headers(conn, admin_id)
    client = app.test_client()
    client.set_cookie("lang", "en")  # the messages below are matched in English
    csrf = helpers.login(client, f"ia-adm-{tag}")
    return {"client": client, "csrf": csrf, "headers": headers, "code": code, "party": party, "tag": tag,
            "staff_id": staff_id, "admin": f"ia-adm-{tag}", "official": f"ia-off-{tag}"}


def _new_user(world, **fields):
    form = {"username": f"ia-{secrets.token_hex(4)}", "role": "official", "password": "first-Secret-1",
            "active": "on", "csrf_token": world["csrf"], **fields}
    return world["client"].post("/admin/users/new", data=form), form["username"]


def _edit_user(world, **fields):
    form = {"role": "official", "active": "on", "csrf_token": world["csrf"], **fields}
    return world["client"].post(f"/admin/users/{world['staff_id']}", data=form)


def _token(world, **fields):
    form = {"username": world["official"], "name": "client", "csrf_token": world["csrf"], **fields}
    return world["client"].post("/admin/tokens", data=form)


def _form_error(resp, text=None):
    assert resp.status_code == 400, resp.status_code
    page = resp.get_data(as_text=True)
    assert "notice bad" in page
    if text:
        assert text in page


# ---------------------------------------------------------------- 1. the audit log's paging


@pytest.mark.parametrize("query", [f"limit={d}" for d in ODD_DIGITS] + [f"before={d}" for d in ODD_DIGITS]
                         + ["before=" + "9" * 30, "before=-" + "9" * 30, "before=0", "limit=" + "9" * 10000])
def test_audit_api_refuses_what_is_not_an_ascii_number_in_range(client, world, query):
    resp = client.get(f"/api/audit?{query}", headers=world["headers"])
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert set(resp.get_json()["error"]["fields"]) == {query.split("=")[0]}


def test_audit_api_still_pages(client, conn, world):
    for _ in range(2):
        audit.record(conn, audit.command_line_actor(), "test.paging")
    first = client.get("/api/audit?limit=1", headers=world["headers"]).get_json()
    assert len(first["entries"]) == 1 and first["next"]
    older = client.get(first["next"], headers=world["headers"])
    assert older.status_code == 200 and older.get_json()["entries"][0]["id"] < first["entries"][0]["id"]


@pytest.mark.parametrize("before", ["9" * 30, "-" + "9" * 30, "+" + "9" * 30, *ODD_DIGITS, "x"])
def test_audit_page_refuses_a_bad_before(world, before):
    resp = world["client"].get("/admin/audit", query_string={"before": before})
    assert resp.status_code == 400


def test_audit_page_still_pages(world):
    assert world["client"].get("/admin/audit?before=5").status_code == 200
    assert world["client"].get("/admin/audit").status_code == 200


def test_audit_entries_refuse_an_id_beyond_bigint(conn):
    with pytest.raises(ValidationError) as err:
        audit.entries(conn, before_id=10**30)
    assert set(err.value.fields) == {"before"}


# ---------------------------------------------------------------- 2. and 3. numbers and parties on admin forms


@pytest.mark.parametrize("days", [*ODD_DIGITS, "9" * 10000, "0", "3651", "-1"])
def test_token_expiry_must_be_ascii_days_in_range(world, days):
    _form_error(_token(world, expires_days=days), "must be a number of days from 1 to 3650")


def test_token_with_expiry_is_still_created(world):
    assert _token(world, expires_days="30").status_code == 201


@pytest.mark.parametrize("party", [*ODD_DIGITS, "9" * 10000, "9" * 30, "0", "999999", "x"])
def test_user_forms_refuse_a_party_that_is_not_one(world, party):
    resp, name = _new_user(world, party_id=party)
    _form_error(resp, "is not a party")
    _form_error(_edit_user(world, party_id=party), "is not a party")


def test_user_forms_take_a_real_party(world, conn):
    resp, name = _new_user(world, party_id=str(world["party"]))
    assert resp.status_code == 302
    assert accounts.find_user(conn, name).party_id == world["party"]
    assert _edit_user(world, party_id=str(world["party"])).status_code == 302
    assert accounts.load_user(conn, world["staff_id"]).party_id == world["party"]


def test_create_user_checks_the_party_exists(conn):
    with pytest.raises(ValidationError) as err:
        accounts.create_user(conn, f"ia-{secrets.token_hex(4)}", "first-Secret-1", "official", party_id=999999)
    assert err.value.fields == {"party_id": "is not a party"}


# ---------------------------------------------------------------- 4. control characters and lengths before SQL


@pytest.mark.parametrize("areas", ["\x00", "X\x00Y", "a" * 10000])
def test_user_forms_refuse_odd_area_codes(world, areas):
    resp, name = _new_user(world, areas=areas)
    _form_error(resp)
    _form_error(_edit_user(world, areas=areas))


@pytest.mark.parametrize("display_name", ["\x00", "Ann\x00", "Ann\x1b[31m", "x" * 10000])
def test_user_forms_refuse_odd_display_names(world, conn, display_name):
    resp, name = _new_user(world, display_name=display_name)
    _form_error(resp)
    assert 'id="display_name-problem"' in resp.get_data(as_text=True)  # the field is marked, not just the form
    assert accounts.find_user(conn, name) is None
    _form_error(_edit_user(world, display_name=display_name))


@pytest.mark.parametrize("email", ["a\x00@example.org", "a@example.org\x00"])
def test_user_forms_refuse_an_email_with_nul(world, email):
    resp, name = _new_user(world, email=email)
    _form_error(resp, "is not an e-mail address")


def test_register_refuses_a_nul_in_the_display_name(app, conn):
    conn.execute("DELETE FROM rate_limits")
    client = app.test_client()
    name = f"ia-res-{secrets.token_hex(3)}"
    resp = client.post("/register", data={"username": name, "password": "long-enough-1", "password2": "long-enough-1",
                                          "display_name": "Ann\x00", "csrf_token": helpers.csrf_token(client, "/register")})
    _form_error(resp)
    assert 'id="display_name-problem"' in resp.get_data(as_text=True)
    assert accounts.find_user(conn, name) is None


@pytest.mark.parametrize("name", ["\x00", "client\x00", "x" * 10000])
def test_token_names_are_checked_before_sql(world, name):
    _form_error(_token(world, name=name))


def test_create_api_token_refuses_a_nul_name(conn, world):
    with pytest.raises(ValidationError) as err:
        tokens.create_api_token(conn, world["staff_id"], "official", "a\x00b")
    assert set(err.value.fields) == {"name"}


# ---------------------------------------------------------------- 5. where to go after signing in


@pytest.mark.parametrize("target", ["/a\r\nb", "/a\nb", "/a\tb", "/a\x00b", "/a\x7fb"])
def test_login_with_a_next_holding_control_characters_goes_home(app, conn, world, target):
    conn.execute("DELETE FROM rate_limits")
    client = app.test_client()
    resp = client.post("/login", data={"username": world["official"], "password": helpers.DEFAULT_PASSWORD,
                                       "csrf_token": helpers.csrf_token(client), "next": target})
    assert resp.status_code == 302 and resp.headers["Location"] == "/"


def test_login_still_goes_to_a_plain_next(app, conn, world):
    client = app.test_client()
    resp = client.post("/login", data={"username": world["official"], "password": helpers.DEFAULT_PASSWORD,
                                       "csrf_token": helpers.csrf_token(client), "next": "/account?x=1"})
    assert resp.status_code == 302 and resp.headers["Location"] == "/account?x=1"
