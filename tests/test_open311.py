"""Open311 GeoReport v2 (/open311/v2/): every resource in JSON and XML, checked field by field against the
spec (http://wiki.open311.org/GeoReport_v2), plus a stock client speaking plain HTTP."""
from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

import pytest
from werkzeug.serving import make_server

from geodata import issues, tokens
from helpers import make_token
from issues_world import IN_BIG, IN_FAR, IN_SMALL, OUTSIDE, PLANTED_CONTACT, world  # noqa: F401
from apps import app_for

BASE = "/open311/v2"
SPEC = "http://wiki.open311.org/GeoReport_v2"
# The fields of a service request in GET Service Request(s), in the spec's order.
REQUEST_FIELDS = [
    "service_request_id", "status", "status_notes", "service_name", "service_code", "description",
    "agency_responsible", "service_notice", "requested_datetime", "updated_datetime", "expected_datetime",
    "address", "address_id", "zipcode", "lat", "long", "media_url",
]
SERVICE_FIELDS = ["service_code", "service_name", "description", "metadata", "type", "keywords", "group"]
CODES = ["litter", "blocked_passage", "street_light", "fire_lane", "greenery", "noise", "manhole",
         "stairwell_clutter", "illegal_construction", "drain", "other"]
# W3C profile of ISO 8601 with the offset that the spec makes mandatory.
W3_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$")


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def app(database_url, monkeypatch):
    monkeypatch.setenv("TIMEZONE", "Asia/Shanghai")
    with app_for(database_url) as app:
        yield app


@pytest.fixture
def api_key(world):
    """An API token of the resident account of the world: Open311's api_key."""
    return make_token(world.conn, world.users["resident"])


def _json(resp, status=200):
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
    return json.loads(resp.get_data())


def _xml(resp, status=200):
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.headers["Content-Type"] == "text/xml; charset=utf-8"
    raw = resp.get_data()
    assert raw.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(raw)


def _children(element):
    return [child.tag for child in element]


def _json_errors(resp, status):
    body = _json(resp, status)
    assert isinstance(body, list) and body
    for error in body:
        assert list(error) == ["code", "description"]
        assert error["code"] == status and isinstance(error["description"], str) and error["description"]
    return [e["description"] for e in body]


def _xml_errors(resp, status):
    root = _xml(resp, status)
    assert root.tag == "errors" and len(root)
    for error in root:
        assert error.tag == "error" and _children(error) == ["code", "description"]
        assert error.findtext("code") == str(status) and error.findtext("description")
    return [e.findtext("description") for e in root]


def _walk_to(world, status):
    """An issue in the given status, reached through the drawn lifecycle."""
    paths = {
        "reported": [], "confirmed": ["confirmed"], "rejected": ["rejected"],
        "assigned": ["confirmed", "assigned"], "duplicate": ["confirmed", "duplicate"],
        "in_progress": ["confirmed", "assigned", "in_progress"],
        "resolved": ["confirmed", "assigned", "in_progress", "resolved"],
        "closed": ["confirmed", "assigned", "in_progress", "resolved", "closed"],
        "reopened": ["confirmed", "assigned", "in_progress", "resolved", "reopened"],
    }
    issue_id = world.report(description=f"Something {status}").issue.id
    world.walk(issue_id, *paths[status])
    return issue_id


# ---------------------------------------------------------------- discovery and services


def test_discovery_json_and_xml(client):
    doc = _json(client.get(f"{BASE}/discovery.json"))
    assert list(doc) == ["changeset", "contact", "key_service", "endpoints"]
    assert all(isinstance(doc[k], str) and doc[k] for k in ("changeset", "contact", "key_service"))
    [endpoint] = doc["endpoints"]
    assert list(endpoint) == ["specification", "url", "changeset", "type", "formats"]
    assert endpoint["specification"] == SPEC
    assert endpoint["url"] == "http://localhost/open311/v2"
    assert endpoint["type"] == "production"
    assert endpoint["formats"] == ["text/xml", "application/json"]

    root = _xml(client.get(f"{BASE}/discovery.xml"))
    assert root.tag == "discovery"
    assert _children(root) == ["changeset", "contact", "key_service", "endpoints"]
    assert root.findtext("changeset") == doc["changeset"]
    [ep] = root.find("endpoints")
    assert ep.tag == "endpoint"
    assert _children(ep) == ["specification", "url", "changeset", "type", "formats"]
    assert ep.findtext("url") == endpoint["url"] and ep.findtext("specification") == SPEC
    assert [f.text for f in ep.find("formats")] == ["text/xml", "application/json"]
    assert [f.tag for f in ep.find("formats")] == ["format", "format"]


def test_services_json_and_xml(client):
    services = _json(client.get(f"{BASE}/services.json"))
    assert [s["service_code"] for s in services] == CODES
    litter = services[0]
    assert list(litter) == SERVICE_FIELDS
    assert litter["service_name"] == "垃圾堆放"
    assert litter["metadata"] is False and litter["type"] == "realtime"
    assert "2" in litter["description"] and "Litter" in litter["keywords"]
    for s in services:
        assert all(isinstance(s[k], str) and s[k] for k in ("service_code", "service_name", "description", "keywords"))
        assert s["group"] is None

    root = _xml(client.get(f"{BASE}/services.xml"))
    assert root.tag == "services" and {c.tag for c in root} == {"service"}
    assert [s.findtext("service_code") for s in root] == CODES
    first = root[0]
    assert _children(first) == SERVICE_FIELDS
    assert first.findtext("metadata") == "false" and first.findtext("type") == "realtime"
    assert first.findtext("service_name") == "垃圾堆放" and first.findtext("group") == ""


def test_services_speak_english_when_asked(client):
    services = _json(client.get(f"{BASE}/services.json", headers={"Accept-Language": "en-GB,en;q=0.9"}))
    assert services[0]["service_name"] == "Litter"
    assert "day" in services[0]["description"]
    zh = _json(client.get(f"{BASE}/services.json", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}))
    assert zh[0]["service_name"] == "垃圾堆放"


def test_service_definition_json_and_xml(client):
    assert _json(client.get(f"{BASE}/services/litter.json")) == {"service_code": "litter", "attributes": []}
    root = _xml(client.get(f"{BASE}/services/litter.xml"))
    assert root.tag == "service_definition" and _children(root) == ["service_code", "attributes"]
    assert root.findtext("service_code") == "litter" and len(root.find("attributes")) == 0


@pytest.mark.parametrize("code", ["nope", "LITTER", "%3Cscript%3E"])
def test_unknown_service_definition_is_404_in_both_formats(client, code):
    [msg] = _json_errors(client.get(f"{BASE}/services/{code}.json"), 404)
    assert "service_code" in msg
    _xml_errors(client.get(f"{BASE}/services/{code}.xml"), 404)


# ---------------------------------------------------------------- reading requests


def _request_types(r):
    assert list(r) == REQUEST_FIELDS
    assert isinstance(r["service_request_id"], int)
    assert r["status"] in ("open", "closed")
    for name in ("service_name", "service_code", "description", "service_notice", "address"):
        assert isinstance(r[name], str)
    for name in ("status_notes", "agency_responsible"):
        assert r[name] is None or isinstance(r[name], str)
    for name in ("requested_datetime", "updated_datetime", "expected_datetime"):
        assert W3_DATETIME.match(r[name]), r[name]
        assert r[name].endswith("+08:00")
    assert r["address_id"] is None and r["zipcode"] is None and r["media_url"] is None
    assert isinstance(r["lat"], float) and isinstance(r["long"], float)


def test_request_fields_json_and_xml(world, client):
    issue = world.report(description="Bags of rubbish by gate 3 <b>&amp; \"more\"</b> 垃圾",
                         contact=PLANTED_CONTACT).issue
    r = _json(client.get(f"{BASE}/requests/{issue.id}.json"))
    assert len(r) == 1
    r = r[0]
    _request_types(r)
    assert r["service_request_id"] == issue.id
    assert r["status"] == "open" and r["status_notes"] is None
    assert r["service_code"] == "litter" and r["service_name"] == "垃圾堆放"
    assert r["description"] == issue.description
    assert r["lat"] == IN_BIG[1] and r["long"] == IN_BIG[0]
    # The community and its street; the street office answers until a party is assigned.
    assert r["address"] == "社区C-BIG, 社区S1"
    assert r["agency_responsible"] == "社区S1办事处"
    created = datetime.fromisoformat(r["requested_datetime"])
    assert abs(created - issue.created_at) < timedelta(seconds=1)
    assert datetime.fromisoformat(r["expected_datetime"]) - created == timedelta(days=2)
    assert r["service_notice"] == "服务承诺：2 天内处理。"

    root = _xml(client.get(f"{BASE}/requests/{issue.id}.xml"))
    assert root.tag == "service_requests"
    [req] = root
    assert req.tag == "request" and _children(req) == REQUEST_FIELDS
    for name in REQUEST_FIELDS:
        expected = r[name]
        assert req.findtext(name) == ("" if expected is None else str(expected)), name
    raw = client.get(f"{BASE}/requests/{issue.id}.xml").get_data(as_text=True)
    assert "<b>" not in raw and "&lt;b&gt;&amp;amp;" in raw


def test_status_mapping_and_status_notes(world, client):
    ids = {status: _walk_to(world, status) for status in issues.STATUSES}
    found = {r["service_request_id"]: r for r in _json(
        client.get(f"{BASE}/requests.json", query_string={"service_request_id": ",".join(map(str, ids.values()))}))}
    for status, issue_id in ids.items():
        expected = "closed" if status in ("closed", "rejected", "duplicate") else "open"
        assert found[issue_id]["status"] == expected, status
        _request_types(found[issue_id])
    # Closed requests report when they were closed; duplicates and rejections say why without a note.
    assert "重复" in found[ids["duplicate"]]["status_notes"]
    assert str(world.canonical) in found[ids["duplicate"]]["status_notes"]
    assert found[ids["rejected"]]["status_notes"]
    closed = issues.load(world.conn, ids["closed"])
    assert datetime.fromisoformat(found[ids["closed"]]["updated_datetime"]) == closed.closed_at.replace(microsecond=0)
    # Assigned: the party answers.
    assert found[ids["assigned"]]["agency_responsible"] == "楼门志愿队"

    # status_notes is the note of the transition that led to the current state.
    issue = world.report().issue
    issues.transition(world.conn, world.actors["admin"], issue.id, "confirmed", 1, "Seen on the walkabout")
    issues.transition(world.conn, world.actors["admin"], issue.id, "assigned", 2, "Volunteers take it",
                      party_id=world.party)
    [r] = _json(client.get(f"{BASE}/requests/{issue.id}.json"))
    assert r["status_notes"] == "Volunteers take it"
    issues.transition(world.conn, world.actors["admin"], issue.id, "in_progress", 3)
    [r] = _json(client.get(f"{BASE}/requests/{issue.id}.json"))
    assert r["status_notes"] is None


def test_english_request(world, client):
    issue = world.report().issue
    [r] = _json(client.get(f"{BASE}/requests/{issue.id}.json", headers={"Accept-Language": "en"}))
    assert r["service_name"] == "Litter" and r["address"] == "C-BIG, S1"
    assert r["agency_responsible"] == "S1 office"


def test_request_outside_a_street_has_no_street_office(world, client):
    issue = world.report(point=IN_FAR).issue
    [r] = _json(client.get(f"{BASE}/requests/{issue.id}.json"))
    assert r["address"] == "社区C-FAR" and r["agency_responsible"] is None


@pytest.mark.parametrize("rid", ["999999", "0", "abc", "1.5", "-1", "99999999999999999999999"])
def test_unknown_request_is_404(client, rid):
    _json_errors(client.get(f"{BASE}/requests/{rid}.json"), 404)
    _xml_errors(client.get(f"{BASE}/requests/{rid}.xml"), 404)


def _ids(resp):
    return [r["service_request_id"] for r in _json(resp)]


def test_requests_filters(world, client):
    conn = world.conn
    old = world.report(description="last autumn").issue.id
    conn.execute("UPDATE issues SET created_at = now() - interval '100 days' WHERE id = %s", (old,))
    noise = world.report(category="noise", description="karaoke").issue.id
    closed = _walk_to(world, "closed")
    light = world.report(category="street_light", point=IN_SMALL, description="dark").issue.id

    everything = _ids(client.get(f"{BASE}/requests.json"))
    # Newest first, last 90 days only.
    assert everything[:3] == [light, closed, noise] and old not in everything
    assert set(_ids(client.get(f"{BASE}/requests.json?status=open"))) == set(everything) - {closed}
    assert _ids(client.get(f"{BASE}/requests.json?status=closed")) == [closed]
    assert _ids(client.get(f"{BASE}/requests.json?status=open,closed")) == everything
    assert _ids(client.get(f"{BASE}/requests.json?service_code=noise,street_light")) == [light, noise]
    # The same lists given by repeating the parameter.
    assert _ids(client.get(f"{BASE}/requests.json?service_code=noise&service_code=street_light")) == [light, noise]
    assert _ids(client.get(f"{BASE}/requests.json?status=open&status=closed")) == everything
    assert _ids(client.get(f"{BASE}/requests.json?service_request_id={old}&service_request_id={noise}")) == [noise, old]
    # Empty arguments are the same as absent ones.
    assert _ids(client.get(f"{BASE}/requests.json?service_code=&status=&start_date=")) == everything
    # service_request_id overrides every other argument, also the 90-day window.
    assert _ids(client.get(f"{BASE}/requests.json?service_request_id={old},{noise}&status=closed")) == [noise, old]
    start = (datetime.now(timezone.utc) - timedelta(days=101)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (datetime.now(timezone.utc) - timedelta(days=99)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert _ids(client.get(f"{BASE}/requests.json", query_string={"start_date": start, "end_date": end})) == [old]
    # One date: 90 days from it or up to it.
    assert _ids(client.get(f"{BASE}/requests.json", query_string={"start_date": start})) == [old]
    assert old in _ids(client.get(f"{BASE}/requests.json", query_string={"end_date": end}))
    # An offset in the query is honoured.
    local_end = (datetime.now(timezone(timedelta(hours=8))) - timedelta(days=99)).isoformat(timespec="seconds")
    assert _ids(client.get(f"{BASE}/requests.json", query_string={"start_date": start, "end_date": local_end})) == [old]
    # The XML list carries the same requests in the same order.
    root = _xml(client.get(f"{BASE}/requests.xml?service_code=noise,street_light"))
    assert [int(r.findtext("service_request_id")) for r in root] == [light, noise]


@pytest.mark.parametrize("query, word", [
    ("status=pending", "status"),
    ("start_date=yesterday", "start_date"),
    ("start_date=2024-01-01T00:00:00Z&end_date=2024-06-01T00:00:00Z", "90 days"),
    ("start_date=2024-06-01T00:00:00Z&end_date=2024-01-01T00:00:00Z", "start_date"),
    ("service_code=nope", "service_code"),
    ("service_request_id=1,abc", "service_request_id"),
])
def test_requests_bad_filters_are_400(client, query, word):
    [msg] = _json_errors(client.get(f"{BASE}/requests.json?{query}"), 400)
    assert word in msg
    _xml_errors(client.get(f"{BASE}/requests.xml?{query}"), 400)


def test_requests_are_capped_at_1000_newest_first(world, client):
    world.conn.execute(
        "INSERT INTO issues (category, title, description, geom, area_id, created_at, updated_at, due_at)"
        " SELECT 'litter', 't', 'bulk ' || g, ST_SetSRID(ST_MakePoint(116.31, 39.94), 4326), %s,"
        "        now() - g * interval '1 minute', now(), now() + interval '2 days'"
        " FROM generate_series(1, 1005) g", (world.big,))
    found = _json(client.get(f"{BASE}/requests.json"))
    assert len(found) == 1000
    times = [datetime.fromisoformat(r["requested_datetime"]) for r in found]
    assert times == sorted(times, reverse=True)
    assert len(_xml(client.get(f"{BASE}/requests.xml"))) == 1000
    many = ",".join(str(i) for i in range(1, 1002))
    _json_errors(client.get(f"{BASE}/requests.json?service_request_id={many}"), 400)


def test_contact_never_appears(world, client, api_key):
    world.report(contact=PLANTED_CONTACT)
    resp = client.post(f"{BASE}/requests.json", data={
        "api_key": api_key, "service_code": "litter", "lat": IN_BIG[1], "long": IN_BIG[0],
        "description": "Open311 report", "email": "planted-contact@example.org", "phone": "13800138000",
        "first_name": "Planted", "last_name": "Person"})
    assert resp.status_code == 200
    for url in ("requests.json", "requests.xml", f"requests/{_json(resp)[0]['service_request_id']}.xml",
                "services.json"):
        body = client.get(f"{BASE}/{url}").get_data(as_text=True)
        for secret in ("planted-contact", "13800138000", "Planted"):
            assert secret not in body, url
    assert secret not in resp.get_data(as_text=True)


# ---------------------------------------------------------------- creating requests


def _form(**extra):
    form = {"service_code": "litter", "lat": str(IN_BIG[1]), "long": str(IN_BIG[0]),
            "description": "Bags of rubbish by gate 3"}
    form.update(extra)
    return {k: v for k, v in form.items() if v is not None}


def test_post_creates_an_issue_through_the_core(world, client, api_key):
    resp = client.post(f"{BASE}/requests.json", data=_form(
        api_key=api_key, jurisdiction_id="example.org", email="li@example.org", first_name="Li",
        last_name="Lei", phone="13800000000", device_id="dev-1", account_id="acc-9",
        media_url="http://example.org/p.jpg", **{"attribute[WHISPAWN]": "123"}))
    [created] = _json(resp)
    assert list(created) == ["service_request_id", "service_notice", "account_id"]
    assert isinstance(created["service_request_id"], int) and created["account_id"] is None
    issue = issues.load(world.conn, created["service_request_id"])
    assert issue.source == "open311" and issue.status == "reported" and issue.area_id == world.big
    assert issue.reporter_id == world.users["resident"]
    assert issue.reporter_contact == "Li Lei <li@example.org> 13800000000"
    assert issue.description == "Bags of rubbish by gate 3"
    events = world.conn.execute("SELECT kind, data->>'source' FROM issue_events WHERE issue_id = %s",
                                (issue.id,)).fetchall()
    assert events == [("created", "open311")]
    [again] = _json(client.get(f"{BASE}/requests/{issue.id}.json"))
    assert again["status"] == "open" and again["service_code"] == "litter"


def test_post_xml_answer(world, client, api_key):
    root = _xml(client.post(f"{BASE}/requests.xml", data=_form(api_key=api_key)))
    assert root.tag == "service_requests"
    [req] = root
    assert req.tag == "request" and _children(req) == ["service_request_id", "service_notice", "account_id"]
    assert int(req.findtext("service_request_id")) > 0 and req.findtext("account_id") == ""


def test_post_keeps_an_address_string_sent_with_coordinates_and_defaults_the_description(world, client, api_key):
    [created] = _json(client.post(f"{BASE}/requests.json", data=_form(
        api_key=api_key, description=None, address_string="3 Chedaogou Rd")))
    issue = issues.load(world.conn, created["service_request_id"])
    assert issue.description == "垃圾堆放\n\n地址: 3 Chedaogou Rd"

    # The spec allows a description of 4,000 characters: it is kept whole, the address as far as room allows.
    address = "Building 7, 3 Chedaogou Road, Haidian District, Beijing"
    described = {}
    for length in (4000, 3960, 3900):
        [created] = _json(client.post(f"{BASE}/requests.json", data=_form(
            api_key=api_key, description="d" * length, address_string=address)))
        described[length] = issues.load(world.conn, created["service_request_id"]).description
    assert described[4000] == "d" * 4000
    assert described[3960].startswith("d" * 3960 + "\n\n地址: Building 7, 3 Chedaogou")
    assert described[3960].endswith("…") and len(described[3960]) == 4000
    assert described[3900] == "d" * 3900 + f"\n\n地址: {address}"


@pytest.mark.parametrize("key", [None, "", "wrong-key"])
def test_post_without_or_with_a_bad_api_key_is_403(world, client, api_key, key):
    before = world.conn.execute("SELECT count(*) FROM issues").fetchone()[0]
    data = _form(api_key=key)
    [msg] = _json_errors(client.post(f"{BASE}/requests.json", data=data), 403)
    assert "api_key" in msg
    _xml_errors(client.post(f"{BASE}/requests.xml", data=data), 403)
    assert world.conn.execute("SELECT count(*) FROM issues").fetchone()[0] == before


def test_post_with_a_revoked_or_expired_key_or_only_a_bearer_token_is_403(world, client, api_key):
    revoked = make_token(world.conn, world.users["resident"], name="revoked")
    token_id = world.conn.execute("SELECT max(id) FROM api_tokens").fetchone()[0]
    assert tokens.revoke(world.conn, token_id)
    expired = make_token(world.conn, world.users["resident"], name="old",
                         expires_at=datetime.now(timezone.utc) - timedelta(minutes=1))
    for key in (revoked, expired):
        _json_errors(client.post(f"{BASE}/requests.json", data=_form(api_key=key)), 403)
    # The spec's credential is api_key: a Bearer header alone does not stand in for it.
    resp = client.post(f"{BASE}/requests.json", data=_form(), headers={"Authorization": f"Bearer {api_key}"})
    _json_errors(resp, 403)
    # A bad Bearer header is refused in the spec's shape too (403, not the API's 401).
    resp = client.post(f"{BASE}/requests.xml", data=_form(api_key=api_key), headers={"Authorization": "Bearer nope"})
    _xml_errors(resp, 403)
    # A key of a deactivated account stops working.
    world.conn.execute("UPDATE users SET active = false WHERE id = %s", (world.users["resident"],))
    _json_errors(client.post(f"{BASE}/requests.json", data=_form(api_key=api_key)), 403)


@pytest.mark.parametrize("form, status, word", [
    (dict(lat=None, long=None, address_string="1 Main St"), 400, "address_string"),
    (dict(lat=None, long=None, address_id="545483"), 400, "lat"),
    (dict(lat=None, long=None), 400, "location"),
    (dict(long=None), 400, "long"),
    (dict(lat="abc"), 400, "lat"),
    (dict(lat="nan"), 400, "lat"),
    (dict(long="200"), 400, "long"),
    (dict(service_code=None), 400, "service_code"),
    (dict(service_code="nope"), 404, "service_code"),
    (dict(lat=str(OUTSIDE[1]), long=str(OUTSIDE[0])), 400, "community"),
    (dict(description="x" * 4001), 400, "description"),
    (dict(description="bad\x01char"), 400, "description"),
])
def test_post_refusals(world, client, api_key, form, status, word):
    before = world.conn.execute("SELECT count(*) FROM issues").fetchone()[0]
    messages = _json_errors(client.post(f"{BASE}/requests.json", data=_form(api_key=api_key, **form)), status)
    assert any(word in m for m in messages), messages
    _xml_errors(client.post(f"{BASE}/requests.xml", data=_form(api_key=api_key, **form)), status)
    assert world.conn.execute("SELECT count(*) FROM issues").fetchone()[0] == before


# ---------------------------------------------------------------- the rest of the URL space


def test_unknown_resources_methods_and_tokens(client):
    _json_errors(client.get(f"{BASE}/nothing.json"), 404)
    _xml_errors(client.get(f"{BASE}/nothing"), 404)
    _xml_errors(client.get(f"{BASE}/services.csv"), 404)
    _xml_errors(client.get(f"{BASE}/"), 404)
    [msg] = _json_errors(client.get(f"{BASE}/tokens/123.json"), 404)
    assert "service_request_id" in msg
    resp = client.delete(f"{BASE}/requests.json")
    _json_errors(resp, 405)
    assert set(resp.headers["Allow"].split(", ")) >= {"GET", "POST"}
    resp = client.post(f"{BASE}/services.xml")
    _xml_errors(resp, 405)
    assert "GET" in resp.headers["Allow"]


def test_xml_survives_characters_xml_cannot_carry(world, client):
    # Imported or legacy rows may hold control characters that XML 1.0 cannot represent even escaped.
    issue = world.report().issue
    world.conn.execute("UPDATE issues SET description = 'bell\x07 and tab\t' WHERE id = %s", (issue.id,))
    root = _xml(client.get(f"{BASE}/requests/{issue.id}.xml"))
    assert root[0].findtext("description") == "bell\ufffd and tab\t"


# ---------------------------------------------------------------- a stock client over real HTTP


class StockClient:
    """What an off-the-shelf GeoReport v2 client does, with nothing but urllib and the spec: read the
    discovery document, take the production endpoint, list services, fetch a definition when metadata is
    true, POST a form-encoded request, then follow it by id and in the list."""

    def __init__(self, discovery_url: str, api_key: str, fmt: str):
        self.discovery_url, self.api_key, self.fmt = discovery_url, api_key, fmt

    def _parse(self, raw: bytes):
        if self.fmt == "json":
            return json.loads(raw)
        root = ET.fromstring(raw)
        if root.tag in ("services", "service_requests", "errors"):
            return [{child.tag: child.text for child in item} for item in root]
        return root

    def _get(self, url: str):
        with urllib.request.urlopen(url, timeout=10) as resp:
            assert resp.headers.get_content_charset() == "utf-8"
            return self._parse(resp.read())

    def endpoint(self) -> str:
        with urllib.request.urlopen(self.discovery_url, timeout=10) as resp:
            doc = json.loads(resp.read()) if self.discovery_url.endswith(".json") else ET.fromstring(resp.read())
        if isinstance(doc, dict):
            endpoints = [e for e in doc["endpoints"] if e["specification"] == SPEC and e["type"] == "production"]
            assert f"application/json" in endpoints[0]["formats"]
            return endpoints[0]["url"]
        for ep in doc.find("endpoints"):
            if ep.findtext("specification") == SPEC and ep.findtext("type") == "production":
                assert "text/xml" in [f.text for f in ep.find("formats")]
                return ep.findtext("url")
        raise AssertionError("no GeoReport v2 endpoint")

    def run(self, lat: float, lon: float) -> dict:
        base = self.endpoint()
        services = self._get(f"{base}/services.{self.fmt}")
        service = next(s for s in services if s["service_code"] == "street_light")
        if str(service["metadata"]).lower() == "true":
            self._get(f"{base}/services/{service['service_code']}.{self.fmt}")
        form = urllib.parse.urlencode({
            "api_key": self.api_key, "service_code": service["service_code"], "lat": lat, "long": lon,
            "description": "路灯不亮 The lamp is out", "email": "someone@example.org",
        }).encode()
        req = urllib.request.Request(f"{base}/requests.{self.fmt}", data=form, method="POST", headers={
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            [created] = self._parse(resp.read())
        rid = created["service_request_id"]
        [mine] = self._get(f"{base}/requests/{rid}.{self.fmt}")
        listed = self._get(f"{base}/requests.{self.fmt}?" + urllib.parse.urlencode({"service_request_id": rid}))
        assert listed == [mine]
        return mine

    def post_without_key(self) -> tuple[int, list]:
        base = self.endpoint()
        form = urllib.parse.urlencode({"service_code": "litter", "lat": 39.94, "long": 116.31}).encode()
        try:
            urllib.request.urlopen(urllib.request.Request(f"{base}/requests.{self.fmt}", data=form), timeout=10)
        except urllib.error.HTTPError as exc:
            return exc.code, self._parse(exc.read())
        raise AssertionError("POST without api_key succeeded")


@pytest.fixture
def http_server(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_a_stock_client_works_unchanged(world, http_server, api_key, fmt):
    client = StockClient(f"{http_server}{BASE}/discovery.{fmt}", api_key, fmt)
    mine = client.run(IN_SMALL[1], IN_SMALL[0])
    assert str(mine["status"]) == "open" and mine["service_code"] == "street_light"
    assert mine["description"] == "路灯不亮 The lamp is out"
    assert float(mine["lat"]) == IN_SMALL[1] and float(mine["long"]) == IN_SMALL[0]
    assert W3_DATETIME.match(mine["requested_datetime"])
    assert "someone@example.org" not in json.dumps(mine, ensure_ascii=False)
    status, errors = client.post_without_key()
    assert status == 403 and str(errors[0]["code"]) == "403"
