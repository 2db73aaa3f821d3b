"""Hostile input to the volunteer group pages and API and to the walkabout API: each is a 400 (or 413), never a 500."""
from __future__ import annotations

import json

import pytest

import helpers
from geodata import groups, walkabouts
from geodata.validation import ValidationError
from issues_world import world  # noqa: F401
from apps import app_for

# Later modules list every account and party (the admin pages): none of this module's stay.
pytestmark = pytest.mark.usefixtures("leave_no_people_behind")

HUGE = "9" * 30
VERY_LONG = "9" * 10_000


@pytest.fixture(scope="module")
def app(database_url):
    with app_for(database_url) as app:
        yield app


@pytest.fixture
def town(world, app):
    """The issue world plus a group that handles litter, one issue assigned to it, and a signed-in social worker."""
    w = world
    conn = w.conn
    conn.execute("DELETE FROM rate_limits")
    w.sw = helpers.make_user(conn, "social_worker", areas=[w.big], username="in-sw")
    w.sw_headers = helpers.token_headers(conn, w.sw)
    w.group = groups.register(conn, w.actors["admin"], {"name": "Input helpers", "area_id": w.big,
                                                        "capabilities": ["litter"]})["id"]
    w.issue = w.walk(w.report().issue.id, "confirmed")
    w.pages = app.test_client()
    w.csrf = helpers.login(w.pages, "in-sw")
    return w


def _error(resp, status, field=None):
    assert resp.status_code == status, resp.get_data(as_text=True)[:500]
    body = resp.get_json()
    if field:
        assert field in body["error"]["fields"], body
    return body["error"]


def _post_json(client, path, body, headers):
    # json.dumps escapes a lone surrogate as \\udXXX, as a hostile client would send it; Flask's dumps cannot.
    return client.post(path, data=json.dumps(body), content_type="application/json", headers=headers)


def _form(w, path, **data):
    resp = w.pages.post(path + "?lang=en", data={"csrf_token": w.csrf, **data})
    return resp.status_code, resp.get_data(as_text=True)


# ---------------------------------------------------------------- groups


def test_api_groups_area_beyond_bigint_is_400(app):
    _error(app.test_client().get("/api/groups?area=" + HUGE), 400, "area")


def test_register_form_area_id_that_is_not_an_id_is_a_form_error(town):
    for area_id in ("²", VERY_LONG, HUGE, "1.5", "-3"):
        status, page = _form(town, "/groups", name="", area_id=area_id, capabilities="litter")
        # Listed with the form's other problems.
        assert status == 400 and "must be an id (a whole number from 1)" in page and "must not be empty" in page


def test_capabilities_with_nul_are_refused_by_api_and_form(town):
    w = town
    body = {"name": "Nul helpers", "area_id": w.big, "capabilities": ["lit\u0000ter"]}
    client = w.pages.application.test_client()
    _error(client.post("/api/groups", json=body, headers=w.sw_headers), 400, "capabilities")
    _error(_post_json(client, "/api/groups", {**body, "capabilities": ["\ud800"]}, w.sw_headers), 400)
    # The API refuses half a surrogate pair in any field; geodata itself does too, for its other callers.
    with pytest.raises(ValidationError) as bad:
        groups.register(w.conn, w.actors["admin"], {**body, "capabilities": ["\ud800"]})
    assert "capabilities" in bad.value.fields
    status, page = _form(w, "/groups", name="Nul helpers", area_id=str(w.big), capabilities="lit\u0000ter")
    assert status == 400 and "must not contain control characters" in page


BAD_NUMBERS = [("issue_id", "abc"), ("issue_id", " "), ("issue_id", "1.5"), ("issue_id", "²"),
               ("issue_id", VERY_LONG), ("issue_id", HUGE), ("version", "abc"), ("version", " "), ("version", "1.5"),
               ("version", "²"), ("version", VERY_LONG)]


def test_assign_form_with_a_bad_number_is_400(town):
    w = town
    good = {"issue_id": str(w.issue.id), "version": str(w.issue.version)}
    for field, value in BAD_NUMBERS:
        status, page = _form(w, f"/groups/{w.group}/assign", **{**good, field: value})
        assert status == 400 and 'id="notice"' in page, (field, value, page[:300])
    # A repeated field is read by its first value, as everywhere else.
    resp = w.pages.post(f"/groups/{w.group}/assign?lang=en",
                        data={"csrf_token": w.csrf, "issue_id": ["abc", good["issue_id"]],
                              "version": [" ", good["version"]]})
    assert resp.status_code == 400
    assert w.conn.execute("SELECT assigned_party_id FROM issues WHERE id = %s", (w.issue.id,)).fetchone()[0] is None
    status, _page = _form(w, f"/groups/{w.group}/assign", **good)
    assert status == 303


def test_work_form_with_a_bad_number_is_400(town):
    w = town
    good = {"issue_id": str(w.issue.id), "version": str(w.issue.version), "note": "Swept", "to": "in_progress"}
    for field, value in BAD_NUMBERS + [("minutes", "²"), ("minutes", VERY_LONG), ("minutes", "1.5"),
                                       ("people", "²"), ("people", VERY_LONG), ("people", "abc")]:
        status, page = _form(w, f"/groups/{w.group}/work", **{**good, field: value})
        assert status == 400 and "That did not work" in page, (field, value, page[:300])
    status, page = _form(w, f"/groups/{w.group}/work", **{**good, "minutes": "²"})
    assert "Minutes spent: must be an integer" in page
    resp = w.pages.post(f"/groups/{w.group}/work?lang=en",
                        data={"csrf_token": w.csrf, "issue_id": ["x", good["issue_id"]], "note": "Swept"})
    assert resp.status_code == 400


def test_work_report_api_with_a_to_that_is_not_a_string_is_400(town):
    w = town
    client = w.pages.application.test_client(use_cookies=False)
    headers = helpers.token_headers(w.conn, w.users["admin"])
    for to in ([1], {}, ["resolved"], 3, True):
        resp = client.post(f"/api/issues/{w.issue.id}/work-reports", json={"note": "Swept", "to": to, "version": 1},
                           headers=headers)
        _error(resp, 400, "to")


# ---------------------------------------------------------------- walkabouts


def test_walkabout_area_and_category_that_cannot_be_looked_up_are_400(town):
    w = town
    client = w.pages.application.test_client(use_cookies=False)
    for body, field in [
        ({"area": "²"}, "area"), ({"area": HUGE}, "area"), ({"area": int(HUGE)}, "area"), ({"area": 0}, "area"),
        ({"area": "C-\u0000BIG"}, "area"), ({"area": "\ud800"}, None),
        ({"area": "C-BIG", "filters": {"category": "lit\u0000ter"}}, "filters.category"),
        ({"area": "C-BIG", "filters": {"category": ["litter", "\u0000"]}}, "filters.category"),
        ({"area": "C-BIG", "filters": {"category": ["\udfff"]}}, None),
    ]:
        _error(_post_json(client, "/api/walkabouts", body, w.sw_headers), 400, field)
    for body, field in [({"area": "\ud800"}, "area"), ({"area": 1, "filters": {"category": ["\udfff"]}},
                                                       "filters.category")]:
        with pytest.raises(ValidationError) as bad:
            walkabouts.parse_request(body)
        assert field in bad.value.fields
    # An id written as digits still finds the community.
    assert client.post("/api/walkabouts", json={"area": f" {w.big} "}, headers=w.sw_headers).status_code == 201


def test_walkabout_body_over_64_kib_is_413(app):
    body = json.dumps({"area": "C-BIG", "filters": {"category": ["x" * 100] * 28_000}})
    resp = app.test_client().post("/api/walkabouts", data=body, content_type="application/json")
    assert resp.status_code == 413, resp.get_data(as_text=True)[:300]
