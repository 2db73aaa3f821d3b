"""Walkabouts through the API: planning (community, polygon, filters, limits, start points, refusals), the stored
walkabout, GPX re-read with gpxpy, the share link's privacy, and the visit log with its transitions."""
from __future__ import annotations

import gpxpy
import pytest

import helpers
from geodata import issues, walkabouts
from issues_world import IN_BIG, PLANTED_CONTACT, world  # noqa: F401
from webmap import create_app
from webmap import db as webdb

# Points inside C-BIG (116.30-116.32 E, 39.93-39.95 N) and outside C-SMALL.
POINTS = [(116.312, 39.941), (116.315, 39.944), (116.318, 39.932), (116.301, 39.948), (116.309, 39.946),
          (116.316, 39.938)]
# A polygon of about 0.5 km² around the first points, and one of about 38 km² around Beijing's centre.
SMALL_POLY = {"type": "Polygon", "coordinates": [[[116.311, 39.9405], [116.319, 39.9405], [116.319, 39.945],
                                                  [116.311, 39.945], [116.311, 39.9405]]]}
BIG_POLY = {"type": "Polygon", "coordinates": [[[116.30, 39.90], [116.38, 39.90], [116.38, 39.94], [116.30, 39.94],
                                                [116.30, 39.90]]]}
BOWTIE = {"type": "Polygon", "coordinates": [[[116.310, 39.940], [116.319, 39.945], [116.319, 39.940],
                                              [116.310, 39.945], [116.310, 39.940]]]}


@pytest.fixture(scope="module")
def app(database_url):
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "test",
                      "WALKABOUT_SETTINGS": {"time_budget_s": 0.2}})
    yield app
    webdb.close_pool(app)


@pytest.fixture
def client(app):
    # No cookie jar: token requests must not pick up a session another request of the test started.
    return app.test_client(use_cookies=False)


@pytest.fixture
def walk_world(world):
    """The issue world plus six open issues in C-BIG (one with a planted contact) and API tokens."""
    conn = world.conn
    conn.execute("TRUNCATE walkabouts, walkabout_stops RESTART IDENTITY CASCADE")
    world.stops = [world.report(point=p, title=f"Stop {i}", contact=PLANTED_CONTACT if i == 0 else None).issue.id
                   for i, p in enumerate(POINTS)]
    world.headers = {role: helpers.token_headers(conn, world.users[role])
                     for role in ("social_worker", "far_worker", "resident", "official", "admin")}
    return world


def _error(resp, status, code=None):
    assert resp.status_code == status, resp.get_data(as_text=True)
    body = resp.get_json()
    assert set(body["error"]) == {"code", "message", "fields"}
    if code:
        assert body["error"]["code"] == code
    return body["error"]


def _count(conn, table="walkabouts"):
    return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def _plan(client, w, body, role="social_worker"):
    return client.post("/api/walkabouts", json=body, headers=w.headers[role])


# ---------------------------------------------------------------- planning


def test_plan_a_community_stores_the_walk_and_orders_every_open_issue(walk_world, client):
    w = walk_world
    resp = _plan(client, w, {"area": "C-BIG"})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    body = resp.get_json()
    assert resp.headers["Location"] == f"/api/walkabouts/{body['id']}"
    # The canonical report of the world and the six stops: every open issue of the community.
    ids = [s["issue_id"] for s in body["stops"]]
    assert sorted(ids) == sorted(w.stops + [w.canonical])
    assert [s["seq"] for s in body["stops"]] == list(range(1, len(ids) + 1))
    # Legs add up to the total; the route runs start -> stops in order -> start.
    legs = sum(s["leg_distance_m"] for s in body["stops"]) + body["return_leg"]["distance_m"]
    assert legs == pytest.approx(body["distance_m"])
    assert body["walk_minutes"] == pytest.approx(body["distance_m"] / (4.5 * 1000 / 60))
    coords = body["route"]["coordinates"]
    assert body["route"]["type"] == "LineString" and len(coords) == len(ids) + 2
    assert coords[0] == coords[-1] == [pytest.approx(body["start"]["lon"]), pytest.approx(body["start"]["lat"])]
    assert [c for c in coords[1:-1]] == [[pytest.approx(s["lon"]), pytest.approx(s["lat"])] for s in body["stops"]]
    # The office start is the community's point on surface (inside it).
    assert body["start"]["kind"] == "office"
    inside = w.conn.execute("SELECT ST_Intersects(geom, ST_SetSRID(ST_MakePoint(%s, %s), 4326)) FROM areas WHERE id = %s",
                            (body["start"]["lon"], body["start"]["lat"], w.big)).fetchone()[0]
    assert inside
    assert body["area"]["code"] == "C-BIG" and body["page_url"] == f"/walkabouts/{body['share_token']}"
    assert PLANTED_CONTACT not in resp.get_data(as_text=True)
    stored = w.conn.execute("SELECT count(*) FROM walkabout_stops WHERE walkabout_id = %s", (body["id"],)).fetchone()[0]
    assert stored == len(ids)
    again = client.get(f"/api/walkabouts/{body['id']}", headers=w.headers["social_worker"]).get_json()
    assert [s["issue_id"] for s in again["stops"]] == ids and again["distance_m"] == body["distance_m"]


def test_filters_status_category_age_and_the_open_tour(walk_world, client):
    w = walk_world
    w.walk(w.stops[1], "confirmed")
    w.conn.execute("UPDATE issues SET category = 'drain' WHERE id = %s", (w.stops[2],))
    w.conn.execute("UPDATE issues SET created_at = now() - interval '20 days' WHERE id = ANY(%s)", (w.stops[3:5],))
    only_confirmed = _plan(client, w, {"area": w.big, "filters": {"status": ["confirmed"]}}).get_json()
    assert [s["issue_id"] for s in only_confirmed["stops"]] == [w.stops[1]]
    drains = _plan(client, w, {"area": w.big, "filters": {"category": "drain"}}).get_json()
    assert [s["issue_id"] for s in drains["stops"]] == [w.stops[2]]
    old = _plan(client, w, {"area": w.big, "filters": {"min_age_days": 10}, "return_to_start": False}).get_json()
    assert sorted(s["issue_id"] for s in old["stops"]) == sorted(w.stops[3:5])
    assert old["return_leg"] is None and len(old["route"]["coordinates"]) == 3


def test_limits_keep_the_overdue_first_and_cut_by_minutes(walk_world, client):
    w = walk_world
    # Two issues overdue: they are the priority, so a limit of two stops keeps exactly them.
    w.conn.execute("UPDATE issues SET due_at = now() - interval '1 day' WHERE id = ANY(%s)", ([w.stops[3], w.stops[5]],))
    two = _plan(client, w, {"area": w.big, "max_stops": 2}).get_json()
    assert sorted(s["issue_id"] for s in two["stops"]) == sorted([w.stops[3], w.stops[5]])
    assert all(s["overdue"] for s in two["stops"])
    assert two["left_out"] == 5 and two["cut_by"] == ["max_stops"]
    unlimited = _plan(client, w, {"area": w.big}).get_json()
    limit = unlimited["total_minutes"] * 0.6
    cut = _plan(client, w, {"area": w.big, "max_minutes": limit}).get_json()
    assert 1 <= len(cut["stops"]) < len(unlimited["stops"])
    assert cut["total_minutes"] <= limit and "max_minutes" in cut["cut_by"]
    assert cut["left_out"] == len(unlimited["stops"]) - len(cut["stops"])
    before = _count(w.conn)
    _error(_plan(client, w, {"area": w.big, "max_minutes": 1}), 422, "no_stop_fits")
    assert _count(w.conn) == before


def test_start_at_a_tapped_point_or_the_current_location(walk_world, client):
    w = walk_world
    tapped = _plan(client, w, {"area": w.big, "start": {"kind": "point", "lat": 39.935, "lon": 116.305}}).get_json()
    assert tapped["start"] == {"kind": "point", "lat": 39.935, "lon": 116.305}
    assert tapped["route"]["coordinates"][0] == [116.305, 39.935]
    here = _plan(client, w, {"area": w.big, "start": {"kind": "location", "lat": 39.949, "lon": 116.319},
                             "max_stops": 1}).get_json()
    assert here["start"]["kind"] == "location" and here["route"]["coordinates"][0] == [116.319, 39.949]
    _error(_plan(client, w, {"area": w.big, "start": {"kind": "point", "lat": 95, "lon": 116.3}}), 400)
    _error(_plan(client, w, {"area": w.big, "start": {"kind": "bus"}}), 400)


def test_plan_a_drawn_polygon_picks_only_the_issues_inside(walk_world, client):
    w = walk_world
    resp = _plan(client, w, {"polygon": SMALL_POLY})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    body = resp.get_json()
    inside = {w.stops[0], w.stops[1]}  # (116.312, 39.941) and (116.315, 39.944)
    assert {s["issue_id"] for s in body["stops"]} == inside
    assert body["selection"] == "polygon" and body["area"]["id"] == w.big
    assert body["polygon"]["type"] == "Polygon"


def test_invalid_or_too_large_polygons_are_400_and_store_nothing(walk_world, client):
    w = walk_world
    before = _count(w.conn)
    err = _error(_plan(client, w, {"polygon": BOWTIE}), 400, "invalid_polygon")
    assert "polygon" in err["fields"] and "intersection" in err["message"].lower()
    err = _error(_plan(client, w, {"polygon": BIG_POLY}), 400, "polygon_too_large")
    assert "km²" in err["message"] and "5" in err["message"]
    unclosed = {"type": "Polygon", "coordinates": [SMALL_POLY["coordinates"][0][:-1]]}
    _error(_plan(client, w, {"polygon": unclosed}), 400, "invalid_polygon")
    _error(_plan(client, w, {"polygon": {"type": "Point", "coordinates": [116.31, 39.94]}}), 400, "invalid_polygon")
    _error(_plan(client, w, {"polygon": {"type": "Polygon", "coordinates": [[[500, 1], [1, 1], [1, 2], [500, 1]]]}}),
           400, "invalid_polygon")
    _error(_plan(client, w, {"area": w.big, "polygon": SMALL_POLY}), 400, "invalid_request")
    _error(_plan(client, w, {}), 400, "invalid_request")
    assert _count(w.conn) == before


def test_empty_selection_says_no_open_issues_here_and_stores_no_route(walk_world, client):
    w = walk_world
    before = _count(w.conn)
    err = _error(_plan(client, w, {"area": w.small}), 422, "no_open_issues")
    assert err["message"].startswith("No open issues here")
    _error(_plan(client, w, {"area": w.big, "filters": {"category": ["noise"]}}), 422, "no_open_issues")
    assert _count(w.conn) == before and _count(w.conn, "walkabout_stops") == 0


def test_who_may_plan_and_read(walk_world, client):
    w = walk_world
    # A social worker of another community, a resident and an official may not plan here.
    _error(_plan(client, w, {"area": w.big}, "far_worker"), 403, "forbidden")
    _error(_plan(client, w, {"polygon": SMALL_POLY}, "far_worker"), 403, "forbidden")
    _error(_plan(client, w, {"area": w.big}, "resident"), 403, "forbidden")
    _error(_plan(client, w, {"area": w.big}, "official"), 403, "forbidden")
    _error(client.post("/api/walkabouts", json={"area": w.big}), 401, "authentication_required")
    assert _count(w.conn) == 0
    planned = _plan(client, w, {"area": w.big}).get_json()
    _error(client.get(f"/api/walkabouts/{planned['id']}", headers=w.headers["far_worker"]), 403)
    _error(client.get(f"/api/walkabouts/{planned['id']}", headers=w.headers["resident"]), 403)
    assert client.get(f"/api/walkabouts/{planned['id']}", headers=w.headers["admin"]).status_code == 200
    _error(client.get("/api/walkabouts/999999", headers=w.headers["admin"]), 404, "not_found")
    assert client.get(f"/walkabouts/{planned['id']}.gpx", headers=w.headers["far_worker"]).status_code == 403


# ---------------------------------------------------------------- GPX and the share link


def test_gpx_reads_back_with_the_stops_in_order(walk_world, client):
    w = walk_world
    w.conn.execute("UPDATE issues SET title = %s WHERE id = %s", ('Bins <&> "overflowing"', w.stops[0]))
    planned = _plan(client, w, {"area": w.big}).get_json()
    resp = client.get(planned["gpx_url"], headers=w.headers["social_worker"])
    assert resp.status_code == 200 and resp.mimetype == "application/gpx+xml"
    assert "attachment" in resp.headers["Content-Disposition"]
    doc = gpxpy.parse(resp.get_data(as_text=True))
    assert doc.version == "1.1"
    assert [wp.name.split(". ", 1)[0] for wp in doc.waypoints] == [str(s["seq"]) for s in planned["stops"]]
    for wp, stop in zip(doc.waypoints, planned["stops"]):
        assert (wp.longitude, wp.latitude) == (pytest.approx(stop["lon"]), pytest.approx(stop["lat"]))
        assert wp.name == f"{stop['seq']}. {stop['title']}" and f"#{stop['issue_id']}" in wp.description
    (route,) = doc.routes
    got = [(p.longitude, p.latitude) for p in route.points]
    want = [tuple(c) for c in planned["route"]["coordinates"]]
    assert got == [(pytest.approx(x), pytest.approx(y)) for x, y in want]
    # The same file behind the share link, for anyone who has it.
    shared = client.get(f"/walkabouts/{planned['share_token']}.gpx")
    assert shared.status_code == 200 and gpxpy.parse(shared.get_data(as_text=True)).waypoints[0].name == \
        doc.waypoints[0].name


def test_share_link_is_read_only_and_private_details_stay_out(walk_world, app, client):
    w = walk_world
    planned = _plan(client, w, {"area": w.big}).get_json()
    first = planned["stops"][0]
    note = "Spoke to the caretaker, 13900001111"
    resp = client.post(f"/api/walkabouts/{planned['id']}/stops/1/visit", json={"outcome": "visited", "note": note},
                       headers=w.headers["social_worker"])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    page = client.get(planned["page_url"])
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and first["title"] in html
    assert PLANTED_CONTACT not in html and note not in html and "sw1" not in html
    assert 'data-outcome="fixed"' not in html  # no marking buttons for strangers
    _error(client.post(f"/api/walkabouts/{planned['id']}/stops/1/visit", json={"outcome": "visited"}), 401)
    assert client.get("/walkabouts/AAAAAAAAAAAAAAAAAAAAAA").status_code == 404
    # Staff of the community, signed in, see the buttons and the note.
    helpers.make_user(w.conn, "social_worker", areas=[w.big], username="sw-session")
    session = app.test_client()
    helpers.login(session, "sw-session")
    html = session.get(planned["page_url"]).get_data(as_text=True)
    assert 'data-outcome="fixed"' in html and note in html and PLANTED_CONTACT not in html


# ---------------------------------------------------------------- on the walk


def _events(conn, issue_id):
    return conn.execute("SELECT kind, from_status, to_status, note, data FROM issue_events WHERE issue_id = %s"
                        " ORDER BY id", (issue_id,)).fetchall()


def _visit(client, w, walkabout, seq, role="social_worker", **body):
    return client.post(f"/api/walkabouts/{walkabout['id']}/stops/{seq}/visit", json=body, headers=w.headers[role])


def test_visits_write_events_and_the_workflow_step(walk_world, client):
    w = walk_world
    planned = _plan(client, w, {"area": w.big}).get_json()
    by_issue = {s["issue_id"]: s for s in planned["stops"]}
    s0, s1, s2, s3 = (by_issue[w.stops[i]] for i in range(4))

    # visited: one "visited" event, no status change.
    resp = _visit(client, w, planned, s0["seq"], outcome="visited", note="Bags still there")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["status"] == "reported" and resp.get_json()["to_status"] is None
    kinds = _events(w.conn, s0["issue_id"])
    assert kinds[-1][0] == "visited" and kinds[-1][3] == "Bags still there"
    assert kinds[-1][4] == {"walkabout_id": planned["id"], "seq": s0["seq"], "outcome": "visited"}

    # confirmed: reported -> confirmed, after the visit event.
    resp = _visit(client, w, planned, s1["seq"], outcome="confirmed", version=s1["version"])
    assert resp.get_json()["status"] == "confirmed"
    assert [e[:3] for e in _events(w.conn, s1["issue_id"])[-2:]] == [("visited", None, None),
                                                                      ("transition", "reported", "confirmed")]

    # not found: reported -> rejected.
    assert _visit(client, w, planned, s2["seq"], outcome="not_found").get_json()["status"] == "rejected"

    # fixed: refused from "reported" (no such step), and nothing is written.
    n_events = len(_events(w.conn, s3["issue_id"]))
    err = _error(_visit(client, w, planned, s3["seq"], outcome="fixed"), 422, "transition_not_allowed")
    assert "visited" in err["message"]
    assert len(_events(w.conn, s3["issue_id"])) == n_events
    # ... but from in_progress it resolves, and a resolved issue is closed.
    w.walk(s3["issue_id"], "confirmed", "assigned", "in_progress")
    current = issues.load(w.conn, s3["issue_id"]).version
    assert _visit(client, w, planned, s3["seq"], outcome="fixed", version=current).get_json()["status"] == "resolved"
    assert _visit(client, w, planned, s3["seq"], outcome="fixed").get_json()["status"] == "closed"

    # A stale version is the issue API's 409.
    _error(_visit(client, w, planned, s1["seq"], outcome="visited", version=s1["version"]), 409, "version_conflict")

    # The stops remember the latest mark.
    rows = dict(w.conn.execute("SELECT issue_id, outcome FROM walkabout_stops WHERE walkabout_id = %s AND outcome"
                               " IS NOT NULL", (planned["id"],)).fetchall())
    assert rows == {s0["issue_id"]: "visited", s1["issue_id"]: "confirmed", s2["issue_id"]: "not_found",
                    s3["issue_id"]: "fixed"}
    got = client.get(f"/api/walkabouts/{planned['id']}", headers=w.headers["social_worker"]).get_json()
    stop = next(s for s in got["stops"] if s["issue_id"] == s1["issue_id"])
    assert stop["outcome"] == "confirmed" and stop["from_status"] == "reported" and stop["to_status"] == "confirmed"


def test_visit_refusals(walk_world, client):
    w = walk_world
    planned = _plan(client, w, {"area": w.big}).get_json()
    _error(_visit(client, w, planned, 1, "far_worker", outcome="visited"), 403)
    _error(_visit(client, w, planned, 1, "resident", outcome="visited"), 403)
    _error(_visit(client, w, planned, 1, outcome="swept"), 400, "invalid_request")
    _error(_visit(client, w, planned, 99, outcome="visited"), 404, "not_found")
    _error(_visit(client, w, planned, 1, outcome="visited", note="x" * 4001), 400)
    assert not w.conn.execute("SELECT count(*) FROM issue_events WHERE kind = 'visited'").fetchone()[0]


def test_geodata_plan_directly_with_settings(walk_world):
    """The domain function without the web: a smaller area limit refuses a polygon the default allows."""
    w = walk_world
    with pytest.raises(walkabouts.PolygonTooLarge):
        walkabouts.plan(w.conn, w.actors["social_worker"], {"polygon": SMALL_POLY},
                        walkabouts.Settings(max_area_km2=0.1))
    found = walkabouts.plan(w.conn, w.actors["social_worker"], {"polygon": SMALL_POLY},
                            walkabouts.Settings(speed_kmh=3.0, time_budget_s=0))
    assert found["walk_minutes"] == pytest.approx(found["distance_m"] / 50.0)
