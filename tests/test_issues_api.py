"""The issue API over HTTP (Flask test client) against a real PostGIS."""
from __future__ import annotations

import base64
import io
import json
import re
import secrets
import threading

import pytest

from geodata import issues
from issues_world import IN_BIG, IN_SMALL, OUTSIDE, PLANTED_CONTACT, world  # noqa: F401
from apps import app_for
from webmap import create_app
from webmap import db as webdb
from webmap import openapi

REPORT = {"lat": IN_BIG[1], "lon": IN_BIG[0], "category": "litter", "description": "Rubbish by gate 3"}


@pytest.fixture
def app(database_url):
    # Rate limits have their own test below; here one client posts far more than a resident may.
    with app_for(database_url, RATELIMIT_ENABLED=False) as app:
        yield app


def _counts(conn):
    return tuple(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                 for t in ("issues", "issue_events", "comments", "idempotency_keys"))


def _error(resp, status, code=None):
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/json"
    body = resp.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}
    if code:
        assert body["error"]["code"] == code
    assert "Traceback" not in resp.get_data(as_text=True)
    return body["error"]


# ---------------------------------------------------------------- reporting


def test_report_returns_feature_location_and_private_token_once(world, client):
    resp = client.post("/api/issues", json={**REPORT, "contact": PLANTED_CONTACT})
    assert resp.status_code == 201 and resp.mimetype == "application/geo+json"
    body = resp.get_json()
    assert body["type"] == "Feature" and body["geometry"]["coordinates"] == [IN_BIG[0], IN_BIG[1]]
    assert resp.headers["Location"] == f"/api/issues/{body['id']}"
    assert body["properties"]["status"] == "reported" and body["properties"]["area_id"] == world.big
    token = body["private_token"]
    assert body["private_url"] == f"/issues/{body['id']}?token={token}"
    assert PLANTED_CONTACT not in resp.get_data(as_text=True)
    again = client.get(resp.headers["Location"])
    assert again.status_code == 200 and "private_token" not in again.get_json()
    assert token not in again.get_data(as_text=True)
    assert again.get_json()["properties"]["you_reported"] is False
    mine = client.get(resp.headers["Location"], headers={"X-Reporter-Token": token})
    assert mine.get_json()["properties"]["you_reported"] is True
    assert client.get(resp.headers["Location"] + f"?token={token}").get_json()["properties"]["you_reported"]


def test_idempotent_retry_creates_one_issue(world, client):
    before = _counts(world.conn)
    headers = {"Idempotency-Key": "abc-123"}
    first = client.post("/api/issues", json=REPORT, headers=headers)
    second = client.post("/api/issues", json=REPORT, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.get_json() == second.get_json()
    assert second.headers["Location"] == first.headers["Location"]
    assert second.headers["Idempotent-Replayed"] == "true"
    after = _counts(world.conn)
    assert after[0] == before[0] + 1 and after[1] == before[1] + 1
    # The same key with another body is a client error; a new key is a new issue.
    _error(client.post("/api/issues", json={**REPORT, "description": "other"}, headers=headers), 422,
           "idempotency_key_reused")
    assert client.post("/api/issues", json=REPORT, headers={"Idempotency-Key": "abc-124"}).status_code == 201
    assert _counts(world.conn)[0] == before[0] + 2
    _error(client.post("/api/issues", json=REPORT, headers={"Idempotency-Key": "bad key with spaces"}), 400)


def test_idempotent_concurrent_retries_create_one_issue(world, app):
    before = _counts(world.conn)[0]
    barrier = threading.Barrier(4)
    results = []

    def post():
        with app.test_client() as c:
            barrier.wait()
            r = c.post("/api/issues", json=REPORT, headers={"Idempotency-Key": "same-key"})
            results.append((r.status_code, r.get_json()["id"]))

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [s for s, _ in results] == [201] * 4 and len({i for _, i in results}) == 1
    assert _counts(world.conn)[0] == before + 1


def test_failed_request_with_key_stores_nothing(world, client):
    headers = {"Idempotency-Key": "outside-1"}
    before = _counts(world.conn)
    _error(client.post("/api/issues", json={**REPORT, "lat": OUTSIDE[1], "lon": OUTSIDE[0]}, headers=headers),
           422, "outside_every_area")
    assert _counts(world.conn) == before
    # Fixing the body and retrying with the same key works: nothing was remembered.
    assert client.post("/api/issues", json=REPORT, headers=headers).status_code == 201


BAD_BODIES = [
    ("malformed json", b'{"lat": 39.9,', "application/json", 400, "body"),
    ("NaN literal", b'{"lat": NaN, "lon": 116.31, "category": "litter", "description": "x"}', "application/json", 400, "body"),
    ("Infinity literal", b'{"lat": Infinity, "lon": 116.31, "category": "litter", "description": "x"}', "application/json", 400, "body"),
    ("1e309", b'{"lat": 1e309, "lon": 116.31, "category": "litter", "description": "x"}', "application/json", 400, "lat"),
    ("string number", b'{"lat": "39.94", "lon": 116.31, "category": "litter", "description": "x"}', "application/json", 400, "lat"),
    ("missing fields", b'{"lat": 39.94}', "application/json", 400, "lon"),
    ("array body", b'[1, 2]', "application/json", 400, "body"),
    ("not utf-8", b'{"lat": 39.94, "description": "\xff"}', "application/json", 400, "body"),
    ("unknown category", json.dumps({**REPORT, "category": "dragons"}).encode(), "application/json", 400, "category"),
    ("long description", json.dumps({**REPORT, "description": "x" * 4001}).encode(), "application/json", 400, "description"),
    ("unknown field", json.dumps({**REPORT, "status": "closed"}).encode(), "application/json", 400, "status"),
    ("form post", b"lat=39.94&lon=116.31", "application/x-www-form-urlencoded", 415, None),
    ("text/plain", json.dumps(REPORT).encode(), "text/plain", 415, None),
    ("oversized", json.dumps({**REPORT, "description": "x" * 70_000}).encode(), "application/json", 413, None),
    # A JSON integer too big for a float, true for a number, a NUL in the category, half a UTF-16 pair,
    # nesting deeper than the parser's recursion, and a crs that is there but names nothing.
    ("huge integer", b'{"lat": 1' + b"0" * 400 + b', "lon": 116.31, "category": "litter", "description": "x"}',
     "application/json", 400, "lat"),
    ("boolean number", json.dumps({**REPORT, "lat": True}).encode(), "application/json", 400, "lat"),
    ("NUL in category", json.dumps({**REPORT, "category": "lit\u0000ter"}).encode(), "application/json", 400,
     "category"),
    ("lone surrogate", json.dumps(REPORT)[:-1].encode() + b', "title": "\\ud800"}', "application/json", 400, "body"),
    ("deep nesting", b"[" * 30_000 + b"]" * 30_000, "application/json", 400, "body"),
    ("crs false", json.dumps({**REPORT, "crs": False}).encode(), "application/json", 400, "crs"),
    ("crs empty", json.dumps({**REPORT, "crs": ""}).encode(), "application/json", 400, "crs"),
]


@pytest.mark.parametrize("name, data, ctype, status, field", BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bad_reports_are_refused_in_the_error_format_and_write_nothing(world, client, name, data, ctype, status,
                                                                      field):
    before = _counts(world.conn)
    err = _error(client.post("/api/issues", data=data, content_type=ctype, headers={"Idempotency-Key": name.replace(" ", "-")}),
                 status)
    if field:
        assert field in err["fields"], err
    assert _counts(world.conn) == before


def test_messages_of_numbers_name_what_was_sent_and_the_bound(world, client):
    err = _error(client.post("/api/issues", json={**REPORT, "lat": [1], "lon": "116"}), 400)
    assert err["fields"]["lat"] == "must be a number" and err["fields"]["lon"] == "must be a number (not a string)"
    issue_id = world.canonical
    for body, field, message in (({"to": "confirmed", "version": -5}, "version", "must be at least 1"),
                                 ({"to": "duplicate", "version": 1, "duplicate_of": 0}, "duplicate_of",
                                  "must be at least 1")):
        resp = client.post(f"/api/issues/{issue_id}/transitions", json=body)
        assert _error(resp, 400)["fields"][field] == message


def test_a_body_without_length_that_reaches_the_limit_is_413_not_cut_short(world, client):
    # Chunked bodies (gunicorn marks them wsgi.input_terminated) are read only up to the limit, silently.
    before = _counts(world.conn)
    padded = json.dumps(REPORT).encode() + b" " * 100_000
    for body in (padded, json.dumps({**REPORT, "description": "x" * 70_000}).encode()):
        resp = client.post("/api/issues", input_stream=io.BytesIO(body), content_type="application/json",
                           headers={"Transfer-Encoding": "chunked"}, environ_overrides={"wsgi.input_terminated": True})
        _error(resp, 413)
    assert _counts(world.conn) == before
    resp = client.post("/api/issues", input_stream=io.BytesIO(json.dumps(REPORT).encode()),
                       content_type="application/json", headers={"Transfer-Encoding": "chunked"},
                       environ_overrides={"wsgi.input_terminated": True})
    assert resp.status_code == 201


def test_half_a_surrogate_pair_is_refused_wherever_text_is_sent(world, client):
    before = _counts(world.conn)
    issue_id = world.canonical
    for url, raw, headers in (
            ("/api/issues", json.dumps(REPORT)[:-1] + ', "contact": "\\udc00"}', {"Idempotency-Key": "half-pair"}),
            (f"/api/issues/{issue_id}/transitions", '{"to": "confirmed", "version": 1, "note": "\\ud800"}', {}),
            (f"/api/issues/{issue_id}/comments", '{"body": "ok \\ud83d"}', {})):
        assert "body" in _error(client.post(url, data=raw, content_type="application/json", headers=headers),
                                400)["fields"]
    assert _counts(world.conn) == before
    # A whole pair is an astral character, and welcome.
    resp = client.post(f"/api/issues/{issue_id}/comments", data='{"body": "ok \\ud83d\\ude00"}',
                       content_type="application/json")
    assert resp.status_code == 201 and resp.get_json()["body"] == "ok \U0001f600"


def test_outside_every_community_is_422_with_a_clear_message(world, client):
    err = _error(client.post("/api/issues", json={**REPORT, "lat": OUTSIDE[1], "lon": OUTSIDE[0]}), 422,
                 "outside_every_area")
    assert "not inside any community" in err["message"]


def test_gcj02_report(world, client):
    from geodata import chinacrs

    lon, lat = chinacrs.wgs84_to_gcj02(*IN_SMALL)
    body = client.post("/api/issues", json={**REPORT, "lon": lon, "lat": lat, "crs": "gcj02"}).get_json()
    assert body["properties"]["area_id"] == world.small
    assert body["geometry"]["coordinates"] == pytest.approx(list(IN_SMALL), abs=1e-6)


# ---------------------------------------------------------------- reading


def test_list_pages_with_next_links_and_no_contact(world, client):
    for n in range(11):
        client.post("/api/issues", json={**REPORT, "description": f"n{n}", "contact": PLANTED_CONTACT})
    seen, url, pages = [], "/api/issues?limit=4&category=litter", 0
    while url:
        resp = client.get(url)
        assert resp.status_code == 200 and resp.mimetype == "application/geo+json"
        assert "planted-contact" not in resp.get_data(as_text=True)
        body = resp.get_json()
        pages += 1
        seen += [f["id"] for f in body["features"]]
        nxt = [link["href"] for link in body["links"] if link["rel"] == "next"]
        assert bool(nxt) == ("Link" in resp.headers)
        url = nxt[0] if nxt else None
        if url:
            assert "category=litter" in url and "limit=4" in url
    assert len(seen) == len(set(seen)) == 12 and pages == 3


@pytest.mark.parametrize("query, field", [
    ("bbox=1,2,3", "bbox"), ("bbox=nan,1,2,3", "bbox"), ("bbox=1e309,1,2,3", "bbox"), ("limit=5000", "limit"),
    ("limit=ten", "limit"), ("status=fixed", "status"), ("since=tomorrow", "since"), ("cursor=%%%", "cursor"),
    ("category=lit%00ter", "category"), ("area=a%00b", "area"),
    ("cursor=" + base64.urlsafe_b64encode(b"[" * 5000 + b"]" * 5000).decode(), "cursor"),
])
def test_list_bad_parameters(world, client, query, field):
    assert field in _error(client.get(f"/api/issues?{query}"), 400, "invalid_request")["fields"]


def test_a_query_string_that_is_not_utf8_is_400(world, client):
    _error(client.get("/api/issues", environ_overrides={"QUERY_STRING": "status=\xff"}), 400)
    resp = client.get("/open311/v2/requests.json", environ_overrides={"QUERY_STRING": "status=\xff"})
    assert resp.status_code == 400 and resp.get_json()[0]["code"] == 400


def test_an_area_written_in_other_digits_is_a_code_that_matches_nothing(world, client):
    resp = client.get("/api/issues?area=%C2%B2")  # "²": isdigit() says yes, int() says no
    assert resp.status_code == 200 and resp.get_json()["features"] == []


def test_get_unknown_issue_is_404(world, client):
    _error(client.get("/api/issues/987654"), 404, "not_found")
    _error(client.get("/api/issues/99999999999999999999999"), 404, "not_found")
    _error(client.post("/api/issues/987654/transitions", json={"to": "confirmed", "version": 1}), 404)
    _error(client.post("/api/issues/987654/comments", json={"body": "hello"}), 404)
    _error(client.post("/api/comments/987654/hide"), 404)


def test_nearby_over_http(world, client):
    resp = client.get(f"/api/issues/nearby?lat={IN_BIG[1]}&lon={IN_BIG[0]}&category=litter")
    assert resp.status_code == 200
    assert [f["id"] for f in resp.get_json()["features"]] == [world.canonical]
    for query, field in (("lat=1&lon=2", "category"), ("lat=nan&lon=2&category=litter", "lat"),
                         ("lat=1e309&lon=2&category=litter", "lat"), ("lat=1&lon=2&category=x", "category"),
                         ("lon=2&category=litter", "lat"), ("lat=1&lon=2&category=lit%00ter", "category")):
        assert field in _error(client.get(f"/api/issues/nearby?{query}"), 400)["fields"]


def test_no_contact_anywhere_public(world, client):
    issue_id = client.post("/api/issues", json={**REPORT, "contact": PLANTED_CONTACT}).get_json()["id"]
    client.post(f"/api/issues/{issue_id}/comments", json={"body": "when?"})
    for url in (f"/api/issues/{issue_id}", "/api/issues", f"/api/issues?bbox=116,39,117,40",
                f"/api/issues/nearby?lat={IN_BIG[1]}&lon={IN_BIG[0]}&category=litter"):
        text = client.get(url).get_data(as_text=True)
        assert "planted-contact" not in text and "13800138000" not in text and "token_hash" not in text, url


# ---------------------------------------------------------------- changing


def test_transitions_over_http(world, client):
    issue_id = world.canonical
    # Nobody signed in may not triage.
    _error(client.post(f"/api/issues/{issue_id}/transitions", json={"to": "confirmed", "version": 1}), 401,
           "authentication_required")
    # Not drawn: 422 before any permission question.
    _error(client.post(f"/api/issues/{issue_id}/transitions", json={"to": "closed", "version": 1}), 422,
           "transition_not_allowed")
    issue = world.walk(issue_id, "confirmed")
    _error(client.post(f"/api/issues/{issue_id}/transitions", json={"to": "assigned", "version": 1}), 409,
           "version_conflict")
    for body, field in (({"to": "assigned"}, "version"), ({"version": 2}, "to"),
                        ({"to": "assigned", "version": "2"}, "version"),
                        ({"to": "assigned", "version": 2, "colour": 1}, "colour")):
        assert field in _error(client.post(f"/api/issues/{issue_id}/transitions", json=body), 400)["fields"]
    _error(client.post(f"/api/issues/{issue_id}/transitions", data="to=x", content_type="text/plain"), 415)
    assert issues.load(world.conn, issue_id) == issue


def test_assignment_over_http_assigns_and_hands_over(world, client):
    from helpers import token_headers

    issue_id = world.canonical
    url = f"/api/issues/{issue_id}/assignment"
    staff = token_headers(world.conn, world.users["social_worker"])
    volunteer = token_headers(world.conn, world.users["volunteer"])
    # Only from "confirmed" (the drawn edge) or "assigned" (a change of hands).
    _error(client.post(url, json={"party_id": world.party, "version": 1}, headers=staff), 422,
           "transition_not_allowed")
    issue = world.walk(issue_id, "confirmed")
    _error(client.post(url, json={"party_id": world.party, "version": issue.version}), 401,
           "authentication_required")
    for body, field in (({"party_id": world.party}, "version"), ({"version": issue.version}, "party_id"),
                        ({"party_id": "1", "version": issue.version}, "party_id"),
                        ({"party_id": world.party, "version": issue.version, "note": "x" * 4001}, "note"),
                        ({"party_id": 999999, "version": issue.version}, "party_id"),
                        ({"party_id": world.party, "version": issue.version, "to": "assigned"}, "to")):
        assert field in _error(client.post(url, json=body, headers=staff), 400)["fields"], body
    _error(client.post(url, json={"party_id": world.party, "version": issue.version}, headers=volunteer), 403)
    assert issues.load(world.conn, issue_id) == issue

    resp = client.post(url, json={"party_id": world.party, "version": issue.version}, headers=staff)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    props = resp.get_json()["properties"]
    assert (props["status"], props["assigned_party_id"], props["version"]) == ("assigned", world.party,
                                                                              issue.version + 1)
    # The same request again is stale; the current version hands the issue to another party.
    _error(client.post(url, json={"party_id": world.other_party, "version": issue.version}, headers=staff), 409,
           "version_conflict")
    resp = client.post(url, json={"party_id": world.other_party, "version": props["version"], "note": "换人"},
                       headers=staff)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    again = resp.get_json()["properties"]
    assert (again["status"], again["assigned_party_id"], again["version"]) == ("assigned", world.other_party,
                                                                              props["version"] + 1)
    last = again["history"][-1]
    assert (last["kind"], last["note"], last["data"]) == ("assigned", "换人", {
        "party_id": world.other_party, "previous_party_id": world.party})
    # Once work has started the issue is not handed over here.
    world.walk(issue_id, "in_progress")
    _error(client.post(url, json={"party_id": world.party, "version": again["version"] + 1}, headers=staff), 422,
           "transition_not_allowed")
    _error(client.post("/api/issues/999999/assignment", json={"party_id": world.party, "version": 1},
                       headers=staff), 404)


def test_reporter_closes_over_http_with_the_private_token(world, client):
    created = client.post("/api/issues", json=REPORT).get_json()
    issue_id, token = created["id"], created["private_token"]
    issue = world.walk(issue_id, "confirmed", "assigned", "in_progress", "resolved")
    url = f"/api/issues/{issue_id}/transitions"
    _error(client.post(url, json={"to": "closed", "version": issue.version, "satisfaction": 5}), 401)
    _error(client.post(url, json={"to": "closed", "version": issue.version, "satisfaction": 5},
                       headers={"X-Reporter-Token": "wrong"}), 401)
    err = _error(client.post(url, json={"to": "closed", "version": issue.version},
                             headers={"X-Reporter-Token": token}), 400)
    assert "satisfaction" in err["fields"]
    resp = client.post(f"{url}?token={token}", json={"to": "closed", "version": issue.version, "satisfaction": 5,
                                                    "note": "谢谢"})
    assert resp.status_code == 200
    props = resp.get_json()["properties"]
    assert (props["status"], props["satisfaction"], props["version"]) == ("closed", 5, issue.version + 1)
    assert props["history"][-1]["note"] == "谢谢" and props["history"][-1]["actor"] == "reporter"


def test_support_and_comment_over_http(world, client):
    issue_id = world.canonical
    # Until accounts tell clients apart, an anonymous request has no client key to count it by.
    resp = client.post(f"/api/issues/{issue_id}/supports")
    assert resp.status_code in (200, 201, 401)
    resp = client.post(f"/api/issues/{issue_id}/comments", json={"body": "  Still there  "})
    assert resp.status_code == 201 and resp.get_json()["body"] == "Still there"
    _error(client.post(f"/api/issues/{issue_id}/comments", json={"body": ""}), 400)
    _error(client.post(f"/api/issues/{issue_id}/comments", json={"body": "x" * 4001}), 400)
    headers = {"Idempotency-Key": "c-1"}
    first = client.post(f"/api/issues/{issue_id}/comments", json={"body": "once"}, headers=headers)
    second = client.post(f"/api/issues/{issue_id}/comments", json={"body": "once"}, headers=headers)
    assert first.get_json() == second.get_json()
    assert world.conn.execute("SELECT count(*) FROM comments WHERE body = 'once'").fetchone()[0] == 1


def test_reports_and_comments_are_rate_limited(world, database_url):
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": secrets.token_hex(8),
                      "RATE_LIMIT_REPORTS": "2 per hour", "RATE_LIMIT_COMMENTS": "1 per hour"})
    try:
        client = app.test_client()
        statuses = [client.post("/api/issues", json=REPORT).status_code for _ in range(3)]
        assert statuses == [201, 201, 429]
        _error(client.post("/api/issues", json=REPORT), 429, "rate_limited")
        url = f"/api/issues/{world.canonical}/comments"
        assert [client.post(url, json={"body": "hi"}).status_code for _ in range(2)] == [201, 429]
    finally:
        webdb.close_pool(app)


# ---------------------------------------------------------------- the OpenAPI description


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


def test_openapi_describes_every_api_route_and_nothing_else(app, client):
    resp = client.get("/api/openapi.json")
    assert resp.status_code == 200
    doc = resp.get_json()
    assert doc["openapi"].startswith("3.1") and doc == openapi.document()
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/") or rule.rule == "/api":
            routes.setdefault(_openapi_path(rule.rule), set()).update(
                m.lower() for m in rule.methods - {"HEAD", "OPTIONS"})
    described = {path: {m for m in item if m in ("get", "post", "put", "patch", "delete")}
                 for path, item in doc["paths"].items()}
    missing = {p: sorted(m - described.get(p, set())) for p, m in routes.items() if m - described.get(p, set())}
    assert not missing, f"describe these /api routes in webmap/openapi.json: {missing}"
    extra = {p: sorted(m - routes.get(p, set())) for p, m in described.items() if m - routes.get(p, set())}
    assert not extra, f"webmap/openapi.json describes routes that do not exist: {extra}"


def test_openapi_references_resolve(client):
    doc = client.get("/api/openapi.json").get_json()
    refs = re.findall(r'"\$ref": "#/([^"]+)"', json.dumps(doc))
    for ref in refs:
        node = doc
        for part in ref.split("/"):
            node = node[part]
