"""Deliberations over HTTP (Flask test client, real PostGIS): the JSON API's statuses and reasons, the linked
issues' timelines, and the pages (vote refused with its reason, escaping, the social worker's forms)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

import helpers
from issues_world import IN_BIG, IN_FAR, world  # noqa: F401
from apps import app_for

# Later modules list every account and party (the admin pages): none of this module's stay.
pytestmark = pytest.mark.usefixtures("leave_no_people_behind")


@pytest.fixture
def app(database_url):
    with app_for(database_url) as app:
        yield app


def _iso(moment):
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def site(world, app):
    """The issue world with accounts that sign in, API tokens, and two issues of the big community."""
    conn = world.conn
    conn.execute("DELETE FROM rate_limits")
    w = world
    w.app = app
    w.ids = {
        "sw": helpers.make_user(conn, "social_worker", areas=[w.big], username="dl-sw"),
        "far_sw": helpers.make_user(conn, "social_worker", areas=[w.far], username="dl-farsw"),
        "resident": helpers.make_user(conn, "resident", areas=[w.big], username="dl-res"),
        "far_resident": helpers.make_user(conn, "resident", areas=[w.far], username="dl-farres"),
    }
    w.headers = {name: helpers.token_headers(conn, uid) for name, uid in w.ids.items()}
    w.issue_a = w.report(description="Cars block the courtyard gate").issue.id
    w.issue_b = w.report(description="Bikes by the stairs").issue.id
    now = datetime.now(timezone.utc)
    w.body = {"area_id": w.big, "title": "Parking <script>alert(1)</script>", "issue_ids": [w.issue_a, w.issue_b],
              "options": ["Marked bays", "No cars <b>after</b> 22:00"], "lat": IN_BIG[1], "lon": IN_BIG[0],
              "address": "Hall <img src=x onerror=alert(1)>", "meeting_at": _iso(now + timedelta(days=3)),
              "votes_open_at": _iso(now - timedelta(minutes=5)), "votes_close_at": _iso(now + timedelta(days=2))}
    return w


def _error(resp, status, code):
    assert resp.status_code == status, resp.get_data(as_text=True)
    error = resp.get_json()["error"]
    assert error["code"] == code, error
    return error


def test_api_open_vote_record_and_timeline(site):
    w = site
    client = w.app.test_client()
    _error(client.post("/api/deliberations", json=w.body), 401, "authentication_required")
    _error(client.post("/api/deliberations", json=w.body, headers=w.headers["far_sw"]), 403, "forbidden")
    _error(client.post("/api/deliberations", json=w.body, headers=w.headers["resident"]), 403, "forbidden")
    bad = _error(client.post("/api/deliberations", json={**w.body, "options": ["one"], "issue_ids": []},
                             headers=w.headers["sw"]), 400, "invalid_request")
    assert set(bad["fields"]) == {"options", "issue_ids"}
    far_issue = w.report(point=IN_FAR, description="far").issue.id
    bad = _error(client.post("/api/deliberations", json={**w.body, "issue_ids": [w.issue_a, far_issue]},
                             headers=w.headers["sw"]), 400, "invalid_request")
    assert "issue_ids" in bad["fields"]

    resp = client.post("/api/deliberations", json=w.body, headers=w.headers["sw"])
    assert resp.status_code == 201, resp.get_data(as_text=True)
    d = resp.get_json()
    assert resp.headers["Location"] == f"/api/deliberations/{d['id']}"
    votes = f"/api/deliberations/{d['id']}/votes"
    option = d["options"][1]["id"]

    _error(client.post(votes, json={"option_id": option}), 401, "authentication_required")
    err = _error(client.post(votes, json={"option_id": option}, headers=w.headers["far_resident"]), 403,
                 "not_of_this_community")
    assert "community" in err["message"]
    resp = client.post(votes, json={"option_id": option}, headers=w.headers["resident"])
    assert resp.status_code == 201 and resp.get_json()["votes_total"] == 1
    err = _error(client.post(votes, json={"option_id": option}, headers=w.headers["resident"]), 409, "already_voted")
    assert "already voted" in err["message"]
    _error(client.post(votes, json={"option_id": 2**62}, headers=w.headers["sw"]), 400, "invalid_request")

    # The window, moved by hand: before it and after it.
    w.conn.execute("UPDATE deliberations SET votes_open_at = now() + interval '1 hour' WHERE id = %s", (d["id"],))
    _error(client.post(votes, json={"option_id": option}, headers=w.headers["sw"]), 409, "voting_not_open")
    w.conn.execute("UPDATE deliberations SET votes_open_at = now() - interval '2 hours',"
                   " votes_close_at = now() - interval '1 second' WHERE id = %s", (d["id"],))
    _error(client.post(votes, json={"option_id": option}, headers=w.headers["sw"]), 409, "voting_closed")
    public = client.get(f"/api/deliberations/{d['id']}").get_json()
    assert public["results_visible"] and [o["votes"] for o in public["options"]] == [0, 1]

    resp = client.post(f"/api/deliberations/{d['id']}/comments", json={"body": "Bays <please>"},
                       headers=w.headers["resident"])
    assert resp.status_code == 201
    due = (datetime.now(timezone.utc) + timedelta(days=10)).date().isoformat()
    record = {"attendance": 17, "minutes": "Talked.", "decision": "Paint bays",
              "actions": [{"description": "Paint", "party_id": w.party, "due_on": due}]}
    _error(client.post(f"/api/deliberations/{d['id']}/record", json=record, headers=w.headers["far_sw"]), 403,
           "forbidden")
    resp = client.post(f"/api/deliberations/{d['id']}/record", json=record, headers=w.headers["sw"])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["status"] == "decided"
    _error(client.post(f"/api/deliberations/{d['id']}/record", json=record, headers=w.headers["sw"]), 409,
           "already_recorded")
    # The issue's own page of the API shows the deliberation and its decision in the timeline.
    history = client.get(f"/api/issues/{w.issue_a}").get_json()["properties"]["history"]
    stages = [(e["kind"], e["data"].get("stage"), e["data"].get("decision")) for e in history
              if e["kind"] == "deliberation"]
    assert stages == [("deliberation", "opened", None), ("deliberation", "decided", "Paint bays")]
    assert all(e["data"]["deliberation_id"] == d["id"] for e in history if e["kind"] == "deliberation")
    # And the issue page shows both, linked to the deliberation, its title as text.
    html = client.get(f"/issues/{w.issue_a}?lang=en").get_data(as_text=True)
    assert f'<a href="/deliberations/{d["id"]}">Deliberation opened: Parking &lt;script&gt;' in html
    assert f'<a href="/deliberations/{d["id"]}">Deliberation decided: Parking &lt;script&gt;' in html
    assert "<script>alert(1)</script>" not in html and "Paint bays" in html
    listed = client.get(f"/api/deliberations?area={w.big}").get_json()["deliberations"]
    assert [x["id"] for x in listed] == [d["id"]]


def test_pages_vote_refusal_reason_and_escaping(site):
    w = site
    client = w.app.test_client()
    d = client.post("/api/deliberations", json=w.body, headers=w.headers["sw"]).get_json()
    page = f"/deliberations/{d['id']}"
    anonymous = client.get(page + "?lang=en").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in anonymous and "&lt;script&gt;" in anonymous
    assert "<img src=x" not in anonymous and "No cars &lt;b&gt;after&lt;/b&gt; 22:00" in anonymous
    assert "Sign in to vote" in anonymous
    listing = client.get("/deliberations?lang=en")
    assert listing.status_code == 200 and "Parking &lt;script&gt;" in listing.get_data(as_text=True)
    assert "Open a deliberation" not in listing.get_data(as_text=True)
    assert client.get("/deliberations/999999").status_code == 404
    assert client.get("/api/deliberations/999999").get_json()["error"]["code"] == "not_found"
    assert client.get("/groups").status_code == 200

    csrf = helpers.login(client, "dl-res")
    option = d["options"][0]["id"]
    resp = client.post(page + "/vote", data={"option_id": option, "csrf_token": csrf})
    assert resp.status_code == 303
    after = client.get(resp.headers["Location"].split("#")[0] + "&lang=en").get_data(as_text=True)
    assert "Your vote has been counted" in after and "You voted for: Marked bays" in after
    assert "Votes cast: 1" in after
    again = client.post(page + "/vote?lang=en", data={"option_id": option, "csrf_token": csrf})
    assert again.status_code == 409
    assert "You have already voted in this deliberation" in again.get_data(as_text=True)
    # The same refusal in Chinese.
    zh = client.post(page + "/vote?lang=zh", data={"option_id": option, "csrf_token": csrf})
    assert zh.status_code == 409 and "您已经投过票" in zh.get_data(as_text=True)
    assert w.conn.execute("SELECT count(*) FROM deliberation_votes").fetchone()[0] == 1

    other = w.app.test_client()
    csrf2 = helpers.login(other, "dl-farres")
    refused = other.post(page + "/vote?lang=en", data={"option_id": option, "csrf_token": csrf2})
    assert refused.status_code == 403 and "Only residents of this community" in refused.get_data(as_text=True)


def test_social_worker_opens_and_records_through_the_pages(site):
    w = site
    client = w.app.test_client()
    csrf = helpers.login(client, "dl-sw")
    listing = client.get("/deliberations?lang=en").get_data(as_text=True)
    assert "Open a deliberation" in listing and f'value="{w.issue_a}"' in listing
    form = {"csrf_token": csrf, "area_id": str(w.big), "title": "Corner", "options": "Garden\nBenches\n",
            "issue_ids": [str(w.issue_a)], "lat": str(IN_BIG[1]), "lon": str(IN_BIG[0]), "address": "Gate 3",
            "meeting_at": "2031-05-01T19:00", "votes_open_at": "2031-04-20T08:00", "votes_close_at": "2031-05-01T19:00"}
    bad = client.post("/deliberations?lang=en", data={**form, "options": "Garden", "lat": ""})
    assert bad.status_code == 400
    text = bad.get_data(as_text=True)
    assert "needs at least two different choices" in text and "tap the map" in text
    resp = client.post("/deliberations", data=form)
    assert resp.status_code == 303, resp.get_data(as_text=True)
    page = resp.headers["Location"].split("?")[0]
    d_id = int(page.rsplit("/", 1)[1])
    # datetime-local values are read in the app's time zone (Asia/Shanghai, UTC+8).
    stored = w.conn.execute("SELECT votes_open_at AT TIME ZONE 'UTC' FROM deliberations WHERE id = %s",
                            (d_id,)).fetchone()[0]
    assert stored == datetime(2031, 4, 20, 0, 0)
    shown = client.get(page + "?lang=en").get_data(as_text=True)
    assert "Voting opens soon" in shown and "Save the meeting record" in shown
    record = {"csrf_token": csrf, "attendance": "12", "minutes": "Fine", "decision": "A small garden",
              "action1_description": "Dig", "action1_party": str(w.party), "action1_due": "2031-06-01"}
    resp = client.post(page + "/record", data=record)
    assert resp.status_code == 303
    done = client.get(resp.headers["Location"].split("#")[0] + "&lang=en").get_data(as_text=True)
    assert "A small garden" in done and "Dig" in done and "Attendance" in done
