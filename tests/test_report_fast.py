"""The fast path for anonymous JSON reports (webmap/report_fast.py) answers exactly as the Flask view does."""
from __future__ import annotations

import json

import pytest

from apps import app_for
from webmap.report_fast import FastReports


@pytest.fixture(autouse=True)
def _fresh_limits(conn):
    conn.execute("DELETE FROM rate_limits")
    yield
    conn.execute("DELETE FROM rate_limits")


@pytest.fixture
def app(database_url, demo_world):
    with app_for(database_url, RATE_LIMIT_REPORTS="5 per hour") as app:
        yield app


@pytest.fixture
def demo_world(empty_areas, database_url, monkeypatch):
    """The demo street and its pilot communities; no issues."""
    from etl.__main__ import main

    monkeypatch.setenv("DATABASE_URL", database_url)
    assert main(["demo"]) == 0
    empty_areas.execute("TRUNCATE issues, issue_events, supports, comments, idempotency_keys RESTART IDENTITY CASCADE")
    return empty_areas


def _fast(app) -> FastReports:
    layer = app.wsgi_app
    while not isinstance(layer, FastReports):
        layer = getattr(layer, "wsgi_app", None) or layer.app
    return layer


def _inside(conn) -> tuple[float, float]:
    lon, lat = conn.execute("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM areas"
                            " WHERE level = 'community' ORDER BY code LIMIT 1) s").fetchone()
    return lon, lat


def _post(client, body, **headers):
    data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    return client.post("/api/issues", data=data, headers={"Content-Type": "application/json", **headers})


def _both(app, body, **headers):
    """The same request through the fast path and through the view (FAST_REPORTS off), in that order."""
    fast = _fast(app)
    client = app.test_client()
    before = fast.served
    a = _post(client, body, **headers)
    app.config["FAST_REPORTS"] = False
    try:
        b = _post(client, body, **headers)
    finally:
        app.config["FAST_REPORTS"] = True
    return a, b, fast.served - before


def _same_answer(a, b):
    assert a.status_code == b.status_code
    assert a.headers.get("Content-Type") == b.headers.get("Content-Type")
    names = lambda r: [k for k, _ in r.headers if k not in ("Date",)]  # noqa: E731
    assert names(a) == names(b)
    for name in ("Vary", "X-RateLimit-Limit", "Content-Language"):
        assert a.headers.get(name) == b.headers.get(name), name
    # The second request's counter is one further on; the window is the same.
    if "X-RateLimit-Remaining" in a.headers:
        assert int(a.headers["X-RateLimit-Remaining"]) == int(b.headers["X-RateLimit-Remaining"]) + 1
        assert abs(int(a.headers["X-RateLimit-Reset"]) - int(b.headers["X-RateLimit-Reset"])) <= 1
        assert abs(int(a.headers["Retry-After"]) - int(b.headers["Retry-After"])) <= 2


def test_a_report_gets_the_same_answer_from_both_paths(app, conn):
    lon, lat = _inside(conn)
    body = {"lat": lat, "lon": lon, "category": "litter", "description": "楼下有垃圾 <b>rubbish</b>",
            "contact": "13800000000"}
    a, b, served = _both(app, body)
    assert served == 1
    assert a.status_code == 201
    _same_answer(a, b)
    assert a.headers["X-Content-Type-Options"] == b.headers["X-Content-Type-Options"] == "nosniff"
    fa, fb = a.get_json(), b.get_json()
    assert a.headers["Location"] == f"/api/issues/{fa['id']}" and b.headers["Location"] == f"/api/issues/{fb['id']}"
    assert fa["private_url"] == f"/issues/{fa['id']}?token={fa['private_token']}"
    changing = ("id", "private_token", "private_url")
    props = ("id", "created_at", "updated_at", "due_at")
    strip = lambda f: {**{k: v for k, v in f.items() if k not in changing},  # noqa: E731
                       "properties": {k: v for k, v in f["properties"].items() if k not in props}}
    assert strip(fa) == strip(fb)
    # Both written the same way: Flask's JSON provider, compact, keys sorted, one newline.
    for resp, feature in ((a, fa), (b, fb)):
        assert resp.get_data(as_text=True) == app.json.dumps(feature, separators=(",", ":")) + "\n"
        assert "13800000000" not in resp.get_data(as_text=True)
    rows = conn.execute("SELECT source, reporter_contact, reporter_token_hash IS NOT NULL FROM issues ORDER BY id"
                        ).fetchall()
    assert rows == [("web", "13800000000", True)] * 2
    events = conn.execute("SELECT count(*) FROM issue_events WHERE kind = 'created'").fetchone()[0]
    assert events == 2


@pytest.mark.parametrize("body, status", [
    ({"lat": 39.95, "lon": 116.3, "category": "no-such-thing", "description": "x"}, 422),
    ({"lat": 10.0, "lon": 10.0, "category": "litter", "description": "far away"}, 422),
    ({"lat": "39.9", "lon": 116.3, "category": "litter", "description": "string lat"}, 422),
    (b'{"lat": NaN, "lon": 116.3, "category": "litter", "description": "x"}', 422),
    (b'[1, 2]', 422),
    ({"lat": 39.9, "lon": 116.3, "category": "litter", "description": "x", "extra": 1}, 422),
    (b'\xff\xfe', 422),
    (b'[' * 30_000 + b']' * 30_000, 422),
    (b'{"lat": 39.9, "lon": 116.3, "category": "litter", "description": "half a pair \\ud800"}', 422),
    (b'{"lat": 39.9, "lon": 116.3, "category": "lit\\u0000ter", "description": "x"}', 422),
    (b'{"lat": 1' + b'0' * 400 + b', "lon": 116.3, "category": "litter", "description": "x"}', 422),
])
def test_refusals_are_the_views_and_count_once(app, conn, body, status):
    fast = _fast(app)
    client = app.test_client()
    before = fast.served
    resp = _post(client, body)
    assert fast.served == before  # handed to the view
    view = app.test_client()
    app.config["FAST_REPORTS"] = False
    try:
        plain = _post(view, body)
    finally:
        app.config["FAST_REPORTS"] = True
    assert resp.status_code == plain.status_code
    assert resp.status_code in (status, 400)
    assert resp.get_json() == plain.get_json()
    assert conn.execute("SELECT count(*) FROM issues").fetchone()[0] == 0
    # Each request counted once against the limit, whichever path saw it first.
    assert int(resp.headers["X-RateLimit-Remaining"]) == int(plain.headers["X-RateLimit-Remaining"]) + 1 == 4


def test_both_paths_share_one_counter_and_the_limit_refuses_as_the_view_does(app, conn):
    lon, lat = _inside(conn)
    body = {"lat": lat, "lon": lon, "category": "litter", "description": "again"}
    fast = _fast(app)
    client = app.test_client()
    seen = []
    for k in range(5):
        app.config["FAST_REPORTS"] = k % 2 == 0
        resp = _post(client, body)
        assert resp.status_code == 201
        seen.append(int(resp.headers["X-RateLimit-Remaining"]))
    app.config["FAST_REPORTS"] = True
    assert seen == [4, 3, 2, 1, 0]
    served = fast.served
    refused = _post(client, body)
    assert refused.status_code == 429 and fast.served == served
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert conn.execute("SELECT count(*) FROM issues").fetchone()[0] == 5
    # The refused request left the counter where the view alone would have: one past the limit.
    hits = conn.execute("SELECT hits FROM rate_limits WHERE key LIKE %s", ("%issue-reports%",)).fetchone()[0]
    assert hits == 6


@pytest.mark.parametrize("headers, query", [
    ({"Idempotency-Key": "k-1"}, ""),
    ({"Cookie": "session=1"}, ""),
    ({"X-Reporter-Token": "abc"}, ""),
    ({"Authorization": "Bearer nope"}, ""),
    ({}, "?token=abc"),
    ({"Content-Type": "text/plain"}, ""),
])
def test_anything_but_the_common_case_goes_to_the_view(app, conn, headers, query):
    lon, lat = _inside(conn)
    fast = _fast(app)
    served = fast.served
    client = app.test_client()
    if "Cookie" in headers:  # the test client keeps its own cookie jar
        name, _, value = headers.pop("Cookie").partition("=")
        client.set_cookie(name, value)
    data = json.dumps({"lat": lat, "lon": lon, "category": "litter", "description": "x"}).encode()
    client.post("/api/issues" + query, data=data, headers={"Content-Type": "application/json", **headers})
    assert fast.served == served


def test_behind_a_proxy_the_client_address_is_the_forwarded_one(database_url, demo_world, conn):
    lon, lat = _inside(conn)
    body = {"lat": lat, "lon": lon, "category": "litter", "description": "via nginx"}
    with app_for(database_url, RATE_LIMIT_REPORTS="5 per hour", PROXY_FIX_X_FOR=1) as app:
        client = app.test_client()
        one = _post(client, body, **{"X-Forwarded-For": "203.0.113.7"})
        two = _post(client, body, **{"X-Forwarded-For": "203.0.113.8"})
        again = _post(client, body, **{"X-Forwarded-For": "203.0.113.7"})
        assert _fast(app).served == 3
    assert [r.headers["X-RateLimit-Remaining"] for r in (one, two, again)] == ["4", "4", "3"]


def test_the_report_and_its_rate_limit_hit_are_one_statement(app, conn, monkeypatch):
    """With the default fixed window kept in PostgreSQL the hit is taken in the report's own statement."""
    from webmap import auth

    def no_second_round_trip(*args, **kwargs):
        raise AssertionError("the fast path counted the hit in a statement of its own")

    monkeypatch.setattr(auth.limiter.limiter, "hit", no_second_round_trip)
    monkeypatch.setattr(auth.limiter.storage, "incr", no_second_round_trip)
    lon, lat = _inside(conn)
    client = app.test_client()
    before = _fast(app).served
    answers = [_post(client, {"lat": lat, "lon": lon, "category": "litter", "description": f"once {k}"})
               for k in range(5)]
    assert _fast(app).served == before + 5
    assert [r.status_code for r in answers] == [201] * 5
    assert [r.headers["X-RateLimit-Remaining"] for r in answers] == ["4", "3", "2", "1", "0"]
    # The sixth is over the limit: its statement wrote only the hit, given back before the view counts it
    # (the view's own count goes through the patched incr, so it is not asked here).
    monkeypatch.undo()
    refused = _post(client, {"lat": lat, "lon": lon, "category": "litter", "description": "sixth"})
    assert refused.status_code == 429
    assert conn.execute("SELECT count(*) FROM issues").fetchone()[0] == 5
    assert conn.execute("SELECT hits FROM rate_limits WHERE key LIKE %s", ("%issue-reports%",)).fetchone()[0] == 6


def test_another_limits_storage_is_counted_through_flask_limiter(database_url, demo_world, conn):
    lon, lat = _inside(conn)
    body = {"lat": lat, "lon": lon, "category": "litter", "description": "memory"}
    with app_for(database_url, RATE_LIMIT_REPORTS="2 per hour", RATELIMIT_STORAGE_URI="memory://") as app:
        client = app.test_client()
        answers = [_post(client, body) for _ in range(3)]
        assert _fast(app).served == 2
    assert [r.status_code for r in answers] == [201, 201, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in answers] == ["1", "0", "0"]
    assert conn.execute("SELECT count(*) FROM issues").fetchone()[0] == 2
    assert conn.execute("SELECT count(*) FROM rate_limits").fetchone()[0] == 0
