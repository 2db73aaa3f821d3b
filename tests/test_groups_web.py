"""Volunteer groups over HTTP (Flask test client, real PostGIS): register, members, assign, work reports, pages."""
from __future__ import annotations

import pytest

import helpers
from geodata import groups
from issues_world import world  # noqa: F401
from apps import app_for

# Later modules list every account and party (the admin pages): none of this module's stay.
pytestmark = pytest.mark.usefixtures("leave_no_people_behind")


@pytest.fixture
def app(database_url):
    with app_for(database_url) as app:
        yield app


def _error(resp, status, code):
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.get_json()["error"]["code"] == code
    return resp.get_json()["error"]


def test_group_api_and_pages(world, app):
    w = world
    conn = w.conn
    conn.execute("DELETE FROM rate_limits")
    sw = helpers.make_user(conn, "social_worker", areas=[w.big], username="gr-sw")
    far_sw = helpers.make_user(conn, "social_worker", areas=[w.far], username="gr-farsw")
    for name in ("gr-a", "gr-b", "gr-c"):
        helpers.make_user(conn, "resident", areas=[w.big], username=name)
    h = {name: helpers.token_headers(conn, uid) for name, uid in (("sw", sw), ("far_sw", far_sw))}
    client = app.test_client()
    body = {"name": "Gate <3> helpers", "area_id": w.big, "capabilities": ["litter"], "contact": "139-private",
            "members": ["gr-a"]}
    _error(client.post("/api/groups", json=body), 401, "authentication_required")
    _error(client.post("/api/groups", json=body, headers=h["far_sw"]), 403, "forbidden")
    _error(client.post("/api/groups", json={**body, "capabilities": ["nope"]}, headers=h["sw"]), 400, "invalid_request")
    resp = client.post("/api/groups", json=body, headers=h["sw"])
    assert resp.status_code == 201, resp.get_data(as_text=True)
    g = resp.get_json()
    other = client.post("/api/groups", json={**body, "name": "Others", "members": ["gr-b"]}, headers=h["sw"]).get_json()
    resp = client.post(f"/api/groups/{g['id']}/members", json={"user": "gr-c"}, headers=h["sw"])
    assert resp.status_code == 201
    _error(client.post(f"/api/groups/{g['id']}/members", json={"user": "gr-b"}, headers=h["sw"]), 409,
           "already_in_a_group")
    public = client.get(f"/api/groups/{g['id']}").get_json()
    assert public["members_count"] == 2 and "members" not in public and "contact" not in public
    assert client.get(f"/api/groups/{g['id']}", headers=h["sw"]).get_json()["contact"] == "139-private"

    issue = w.walk(w.report().issue.id, "confirmed")
    _error(client.post(f"/api/groups/{g['id']}/issues", json={"issue_id": issue.id, "version": issue.version},
                       headers=h["far_sw"]), 403, "forbidden")
    resp = client.post(f"/api/groups/{g['id']}/issues", json={"issue_id": issue.id, "version": issue.version},
                       headers=h["sw"])
    assert resp.status_code == 200 and resp.get_json()["properties"]["assigned_party_id"] == g["id"]

    # A member of another group may not report on it; a member of this one may, through the API and the page.
    reports = f"/api/issues/{issue.id}/work-reports"
    member_b = helpers.token_headers(conn, conn.execute("SELECT id FROM users WHERE username = 'gr-b'").fetchone()[0])
    _error(client.post(reports, json={"note": "done"}, headers=member_b), 403, "forbidden")
    member_a = helpers.token_headers(conn, conn.execute("SELECT id FROM users WHERE username = 'gr-a'").fetchone()[0])
    resp = client.post(reports, json={"note": "Swept", "minutes": 30, "people": 2, "to": "in_progress",
                                      "version": issue.version + 1}, headers=member_a)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert resp.get_json()["issue"]["properties"]["status"] == "in_progress"

    page_client = app.test_client()
    csrf = helpers.login(page_client, "gr-a")
    page = page_client.get(f"/groups/{g['id']}?lang=en").get_data(as_text=True)
    assert "Gate &lt;3&gt; helpers" in page and "Report the work done" in page and "139-private" not in page
    version = conn.execute("SELECT version FROM issues WHERE id = %s", (issue.id,)).fetchone()[0]
    resp = page_client.post(f"/groups/{g['id']}/work", data={"csrf_token": csrf, "issue_id": issue.id,
                                                             "version": version, "note": "Bags <gone>",
                                                             "to": "resolved"})
    assert resp.status_code == 303, resp.get_data(as_text=True)
    after = page_client.get(resp.headers["Location"].split("#")[0] + "&lang=en").get_data(as_text=True)
    assert "Your work report is saved" in after and "Bags &lt;gone&gt;" in after
    history = client.get(f"/api/issues/{issue.id}").get_json()["properties"]["history"]
    assert [e["kind"] for e in history if e["kind"] == "work_report"] == ["work_report", "work_report"]
    assert history[-1]["to_status"] == "resolved"

    # The dashboard's count by kind of party: this resolution belongs to a volunteer group.
    assert groups.resolved_by_kind(conn) == {"volunteer_group": 1}
    assert client.get(f"/api/groups/{other['id']}").get_json()["resolved_count"] == 0
    listing = page_client.get("/groups?lang=en").get_data(as_text=True)
    assert "Gate &lt;3&gt; helpers" in listing and "Register a volunteer group" not in listing


def test_social_worker_registers_through_the_page(world, app):
    w = world
    helpers.make_user(w.conn, "social_worker", areas=[w.big], username="gr-sw2")
    helpers.make_user(w.conn, "resident", areas=[w.big], username="gr-d")
    client = app.test_client()
    csrf = helpers.login(client, "gr-sw2")
    assert "Register a volunteer group" in client.get("/groups?lang=en").get_data(as_text=True)
    bad = client.post("/groups?lang=en", data={"csrf_token": csrf, "name": "", "area_id": str(w.big)})
    assert bad.status_code == 400 and "must not be empty" in bad.get_data(as_text=True)
    resp = client.post("/groups", data={"csrf_token": csrf, "name": "Corner gardeners", "area_id": str(w.big),
                                        "capabilities": ["greenery", "litter"], "members": "gr-d"})
    assert resp.status_code == 303
    page = client.get(resp.headers["Location"].split("#")[0] + "&lang=en").get_data(as_text=True)
    assert "The volunteer group is registered" in page and "gr-d" in page and "leader" in page
