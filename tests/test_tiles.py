"""Vector tiles of issues: addresses, content, privacy, aggregation, filters, caching, GCJ-02 display."""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np
import psycopg
import pytest

from geodata import chinacrs, issues, tiles
from geodata.permissions import Actor
from tests.mvt import decode
from webmap import create_app
from webmap import db as webdb

COMMUNITY = "POLYGON((116.30 39.93, 116.32 39.93, 116.32 39.95, 116.30 39.95, 116.30 39.93))"
PLANTED_CONTACT = "13800138000 tiles-planted@example.org"
ANON = Actor()


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    lat_r = math.radians(lat)
    y = int((1 - math.asinh(math.tan(lat_r)) / math.pi) / 2 * n)
    return x, y


def tile_position(lon: float, lat: float, z: int, x: int, y: int) -> tuple[float, float]:
    """Where the point falls inside tile z/x/y, in tile units (0..4096, y down)."""
    n = 2 ** z
    fx = (lon + 180) / 360 * n
    fy = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return (fx - x) * 4096, (fy - y) * 4096


@pytest.fixture
def app(database_url):
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "test"})
    yield app
    webdb.close_pool(app)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def area(empty_areas):
    conn = empty_areas
    area_id = conn.execute(
        "INSERT INTO areas (code, name, level, geom, source) "
        "VALUES ('TILES-1', '瓦片社区', 'community', ST_Multi(ST_GeomFromText(%s, 4326)), 'test') RETURNING id",
        (COMMUNITY,),
    ).fetchone()[0]
    return conn, area_id


def report(conn, lon, lat, category="litter", **extra):
    body = {"lon": lon, "lat": lat, "category": category, "description": "Bags of rubbish by gate 3", **extra}
    return issues.report(conn, ANON, body).issue


def bulk_issues(conn, area_id, n, *, seed=1, box=(116.301, 39.931, 116.319, 39.949), status="reported"):
    """n issues at random points of the box, inserted in one statement (as a bulk import would)."""
    rng = np.random.default_rng(seed)
    lons = rng.uniform(box[0], box[2], n).tolist()
    lats = rng.uniform(box[1], box[3], n).tolist()
    conn.execute(
        """INSERT INTO issues (category, title, description, geom, area_id, status, due_at, source)
           SELECT 'litter', 'bulk', 'bulk issue', ST_SetSRID(ST_MakePoint(lon, lat), 4326), %s, %s,
                  now() + interval '3 days', 'import'
           FROM unnest(%s::float8[], %s::float8[]) AS p(lon, lat)""",
        (area_id, status, lons, lats),
    )
    return lons, lats


def get_tile(client, z, x, y, **query):
    resp = client.get(f"/tiles/issues/{z}/{x}/{y}.pbf", query_string=query)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp


# ---------------------------------------------------------------- addresses


@pytest.mark.parametrize("path", [
    "23/0/0", "-1/0/0", "1/2/0", "1/0/2", "0/0/1", "0/1/0", "3/8/0", "1.5/0/0", "1/0.5/0", "1/0/1e0",
    "a/0/0", "1/x/0", "99999999999/0/0", "22/4194304/0",
])
def test_impossible_tile_addresses_get_a_400_json_error(client, path):
    resp = client.get(f"/tiles/issues/{path}.pbf")
    assert resp.status_code == 400
    body = resp.get_json()
    assert body["error"]["code"] == "invalid_parameter"
    assert body["error"]["fields"]


@pytest.mark.parametrize("query, field", [
    ({"status": "bogus"}, "status"),
    ({"category": "<script>"}, "category"),
    ({"since": "yesterday"}, "since"),
    ({"crs": "bd09"}, "crs"),
])
def test_bad_filters_get_a_400_naming_the_parameter(client, query, field):
    resp = client.get("/tiles/issues/15/26978/12413.pbf", query_string=query)
    assert resp.status_code == 400
    assert field in resp.get_json()["error"]["fields"]


def test_edge_tiles_of_every_zoom_are_accepted(client, area):
    for z in (0, 1, 10, 22):
        top = 2 ** z - 1
        for x, y in ((0, 0), (top, top)):
            resp = client.get(f"/tiles/issues/{z}/{x}/{y}.pbf")
            assert resp.status_code == 200
            assert resp.mimetype == "application/vnd.mapbox-vector-tile"


# ---------------------------------------------------------------- content


def test_a_tile_holds_the_issues_inside_it_with_only_drawn_fields(client, area):
    conn, _ = area
    a = report(conn, 116.3101, 39.9401, "litter", contact=PLANTED_CONTACT, title="Secretive title 题目")
    b = report(conn, 116.3105, 39.9403, "street_light")
    far = report(conn, 116.3190, 39.9310)
    z = 16
    x, y = tile_of(116.3101, 39.9401, z)
    assert tile_of(116.3105, 39.9403, z) == (x, y) and tile_of(116.3190, 39.9310, z) != (x, y)
    body = get_tile(client, z, x, y).data
    layers = decode(body)
    assert set(layers) == {"issues"}
    feats = {f.id: f for f in layers["issues"].features}
    assert set(feats) == {a.id, b.id}
    assert far.id not in feats
    for issue in (a, b):
        f = feats[issue.id]
        assert f.type == 1
        # Only what the map draws: no title, description, contact, token or reporter.
        assert f.properties == {"status": "reported", "category": issue.category}
        (px, py), = f.points
        ex, ey = tile_position(issue.lon, issue.lat, z, x, y)
        assert abs(px - ex) <= 1 and abs(py - ey) <= 1
    for secret in (PLANTED_CONTACT, "13800138000", "Secretive", "Bags of rubbish"):
        assert secret.encode() not in body


def test_an_empty_tile_is_an_empty_body(client, area):
    resp = get_tile(client, 16, 0, 0)
    assert resp.data == b""
    assert decode(resp.data) == {}


def test_points_just_outside_a_tile_are_kept_in_its_buffer(client, area):
    conn, _ = area
    z = 17
    x, y = tile_of(116.31, 39.94, z)
    # A point a few pixels east of the tile's right edge: the neighbour draws it, and this tile
    # draws the part of its circle that reaches over the edge.
    n = 2 ** z
    edge_lon = (x + 1) / n * 360 - 180
    issue = report(conn, edge_lon + 2 / 256 / n * 360, 39.94)
    ids = [f.id for f in decode(get_tile(client, z, x, y).data)["issues"].features]
    assert ids == [issue.id]
    ids = [f.id for f in decode(get_tile(client, z, x + 1, y).data)["issues"].features]
    assert ids == [issue.id]


# ---------------------------------------------------------------- filters


def test_filters_by_status_category_and_since_are_applied(client, area):
    conn, _ = area
    litter = report(conn, 116.3101, 39.9401, "litter")
    light = report(conn, 116.3102, 39.9402, "street_light")
    old = report(conn, 116.3103, 39.9403, "litter")
    conn.execute("UPDATE issues SET created_at = now() - interval '40 days', status = 'closed', "
                 "closed_at = now() WHERE id = %s", (old.id,))
    z = 16
    x, y = tile_of(116.3101, 39.9401, z)

    def ids(**query):
        layers = decode(get_tile(client, z, x, y, **query).data)
        return {f.id for f in layers["issues"].features} if layers else set()

    assert ids() == {litter.id, light.id, old.id}
    assert ids(category="street_light") == {light.id}
    assert ids(category="litter,street_light") == {litter.id, light.id, old.id}
    assert ids(status="closed") == {old.id}
    assert ids(status="reported,confirmed") == {litter.id, light.id}
    since = (datetime.now(timezone.utc) - timedelta(days=7)).date().isoformat()
    assert ids(since=since) == {litter.id, light.id}
    assert ids(since=since, category="litter") == {litter.id}
    assert ids(category="noise") == set()


# ---------------------------------------------------------------- aggregation


def test_low_zoom_tiles_hold_cluster_counts_not_points(client, area):
    conn, area_id = area
    lons, lats = bulk_issues(conn, area_id, 20_000)
    z = 12
    x, y = tile_of(116.31, 39.94, z)
    assert all(tile_of(lo, la, z) == (x, y) for lo, la in zip(lons, lats))
    body = get_tile(client, z, x, y).data
    assert len(body) < 50_000
    layers = decode(body)
    assert set(layers) == {"clusters"}
    feats = layers["clusters"].features
    assert sum(f.properties["count"] for f in feats) == 20_000
    assert all(f.properties["open"] == f.properties["count"] for f in feats)
    # Cells are 32 px: a community-sized tile holds a handful of them, never thousands.
    assert 1 < len(feats) <= (4096 // tiles.CLUSTER_CELL + 2) ** 2
    # Nothing but counts (and, for a cell of one issue, which issue).
    assert {k for f in feats for k in f.properties} <= {"count", "open", "id", "status", "category"}


def test_a_crowded_tile_at_street_zoom_is_aggregated_and_stays_small(client, area):
    conn, area_id = area
    n = tiles.MAX_POINTS + 500
    z = 16
    x, y = tile_of(116.31, 39.94, z)
    # Every point inside one z16 tile (about 400 m across).
    bulk_issues(conn, area_id, n, box=(116.3075, 39.9400, 116.3115, 39.9425))
    body = get_tile(client, z, x, y).data
    layers = decode(body)
    assert set(layers) == {"clusters"}
    assert sum(f.properties["count"] for f in layers["clusters"].features) == n
    assert len(body) < 50_000
    # Fewer points than the limit are sent as points.
    conn.execute("DELETE FROM issues WHERE id IN (SELECT id FROM issues ORDER BY id LIMIT 1000)")
    layers = decode(get_tile(client, z, x, y).data)
    assert set(layers) == {"issues"}
    assert len(layers["issues"].features) == n - 1000


def test_a_tile_of_points_at_the_limit_stays_under_50_kb(client, area):
    conn, area_id = area
    z = 16
    x, y = tile_of(116.31, 39.94, z)
    bulk_issues(conn, area_id, tiles.MAX_POINTS, box=(116.3075, 39.9400, 116.3115, 39.9425))
    body = get_tile(client, z, x, y).data
    assert len(decode(body)["issues"].features) == tiles.MAX_POINTS
    assert len(body) < 50_000


# ---------------------------------------------------------------- caching


def test_tiles_carry_an_etag_and_must_be_revalidated(client, area):
    resp = get_tile(client, 16, 53958, 24829)
    etag = resp.headers["ETag"]
    assert etag
    assert "no-cache" in resp.headers["Cache-Control"]
    again = client.get("/tiles/issues/16/53958/24829.pbf", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == etag


def test_a_new_issue_changes_the_etag_and_appears_in_the_tile(client, area):
    conn, _ = area
    z = 16
    x, y = tile_of(116.3101, 39.9401, z)
    first = get_tile(client, z, x, y)
    etag = first.headers["ETag"]
    issue = report(conn, 116.3101, 39.9401)
    resp = client.get(f"/tiles/issues/{z}/{x}/{y}.pbf", headers={"If-None-Match": etag})
    assert resp.status_code == 200
    assert resp.headers["ETag"] != etag
    assert [f.id for f in decode(resp.data)["issues"].features] == [issue.id]
    # A change of status is a change too: the colour on the map must follow.
    etag = resp.headers["ETag"]
    conn.execute("UPDATE issues SET status = 'confirmed', version = version + 1 WHERE id = %s", (issue.id,))
    resp = client.get(f"/tiles/issues/{z}/{x}/{y}.pbf", headers={"If-None-Match": etag})
    assert resp.status_code == 200
    assert decode(resp.data)["issues"].features[0].properties["status"] == "confirmed"


def test_a_repeated_tile_is_served_from_the_cache_without_the_tile_query(client, area, monkeypatch):
    conn, _ = area
    report(conn, 116.3101, 39.9401)
    z = 16
    x, y = tile_of(116.3101, 39.9401, z)
    calls = []
    real = tiles.issue_tile
    monkeypatch.setattr(tiles, "issue_tile", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    first = get_tile(client, z, x, y).data
    second = get_tile(client, z, x, y).data
    assert first == second and len(calls) == 1
    # The same filter written differently is the same entry.
    get_tile(client, z, x, y, status="reported,confirmed")
    get_tile(client, z, x, y, status="confirmed,reported,confirmed")
    assert len(calls) == 2
    # Any change to issues makes every cached tile unusable.
    report(conn, 116.3102, 39.9402)
    assert len(decode(get_tile(client, z, x, y).data)["issues"].features) == 2
    assert len(calls) == 3


def test_every_kind_of_change_to_issues_bumps_the_data_version(area):
    conn, area_id = area
    seen = [tiles.data_version(conn)]

    def bumped():
        seen.append(tiles.data_version(conn))
        return seen[-1] > seen[-2]

    issue = report(conn, 116.31, 39.94)
    assert bumped()
    conn.execute("UPDATE issues SET supports_count = supports_count + 1 WHERE id = %s", (issue.id,))
    assert bumped()
    bulk_issues(conn, area_id, 1000)
    assert bumped()
    conn.execute("DELETE FROM issues WHERE title = 'bulk'")
    assert bumped()
    conn.execute("TRUNCATE issues CASCADE")
    assert bumped()


def test_concurrent_writers_do_not_queue_on_the_data_version(area, database_url):
    """Two reports in flight at once: neither waits for the other's commit, and each commit shows."""
    conn, _ = area
    before = tiles.data_version(conn)
    writers = []
    # Two connections in different version slots (a backend's slot is its pid modulo 16).
    while len(writers) < 2:
        c = psycopg.connect(database_url)
        if writers and c.info.backend_pid % 16 == writers[0].info.backend_pid % 16:
            c.close()
            continue
        writers.append(c)
    try:
        first, second = writers
        second.execute("SET lock_timeout = '2s'")
        report(first, 116.31, 39.94)  # its transaction stays open
        report(second, 116.312, 39.942)  # refused with LockNotAvailable if it queued behind the first
        assert tiles.data_version(conn) == before  # nothing committed yet: the version has not moved
        second.commit()
        middle = tiles.data_version(conn)
        first.commit()
        assert before < middle < tiles.data_version(conn)
    finally:
        for c in writers:
            c.close()


def test_cache_keeps_one_version_and_its_byte_budget():
    from webmap.tiles import TileCache

    cache = TileCache(max_bytes=10)
    cache.put(1, "a", b"12345")
    cache.put(1, "b", b"12345")
    assert cache.get(1, "a") == b"12345"
    cache.put(1, "c", b"123")  # over budget: the least recently used ("b") goes
    assert cache.get(1, "b") is None and cache.get(1, "a") and cache.get(1, "c")
    assert cache.get(2, "a") is None
    cache.put(2, "d", b"1")
    assert cache.get(1, "a") is None and cache.get(2, "d") == b"1"
    cache.put(1, "late", b"1")  # built from an older version: dropped
    assert cache.get(2, "late") is None


# ---------------------------------------------------------------- GCJ-02 display


def test_sql_gcj02_shift_matches_geodata_chinacrs(conn):
    lons, lats = np.meshgrid(np.linspace(73.6, 134.9, 25), np.linspace(18.2, 53.4, 25))
    lons, lats = lons.ravel(), lats.ravel()
    # A few outside the box too: unchanged there.
    lons = np.append(lons, [2.35, -74.0, 140.0])
    lats = np.append(lats, [48.85, 40.7, 35.7])
    rows = conn.execute(
        "SELECT ST_X(g), ST_Y(g) FROM (SELECT gcj02_point(ST_SetSRID(ST_MakePoint(lon, lat), 4326)) AS g "
        "FROM unnest(%s::float8[], %s::float8[]) WITH ORDINALITY AS p(lon, lat, n) ORDER BY n) s",
        (lons.tolist(), lats.tolist()),
    ).fetchall()
    got = np.array(rows)
    want_lon, want_lat = chinacrs.wgs84_to_gcj02(lons, lats)
    assert np.max(np.abs(got[:, 0] - want_lon)) < 1e-11
    assert np.max(np.abs(got[:, 1] - want_lat)) < 1e-11
    assert got[-1, 0] == 140.0 and got[-3, 1] == 48.85


def test_gcj02_tiles_draw_issues_where_a_gcj02_basemap_has_their_street(client, area):
    conn, _ = area
    lon, lat = 116.3101, 39.9401
    issue = report(conn, lon, lat)
    glon, glat = chinacrs.wgs84_to_gcj02(lon, lat)
    z = 17
    gx, gy = tile_of(glon, glat, z)
    assert (gx, gy) != tile_of(lon, lat, z)  # the offset (about 500 m here) moves it several tiles
    layers = decode(get_tile(client, z, gx, gy, crs="gcj02").data)
    (f,) = layers["issues"].features
    assert f.id == issue.id
    (px, py), = f.points
    ex, ey = tile_position(glon, glat, z, gx, gy)
    assert abs(px - ex) <= 1 and abs(py - ey) <= 1
    # The plain tile at the shifted place is empty, and the two answers have different ETags.
    plain = get_tile(client, z, gx, gy)
    assert decode(plain.data) == {}
    assert plain.headers["ETag"] != get_tile(client, z, gx, gy, crs="gcj02").headers["ETag"]


def test_areas_can_be_asked_for_shifted_to_gcj02(client, area):
    plain = client.get("/api/areas?level=community").get_json()
    shifted = client.get("/api/areas?level=community&crs=gcj02").get_json()
    ring = plain["features"][0]["geometry"]["coordinates"][0][0]
    ring_g = shifted["features"][0]["geometry"]["coordinates"][0][0]
    assert len(ring) == len(ring_g)
    for (lon, lat), (glon, glat) in zip(ring, ring_g):
        want = chinacrs.wgs84_to_gcj02(lon, lat)
        assert abs(glon - want[0]) < 1e-7 and abs(glat - want[1]) < 1e-7
    assert shifted["features"][0]["properties"] == plain["features"][0]["properties"]
    resp = client.get("/api/areas?crs=bd09")
    assert resp.status_code == 400
    assert "crs" in resp.get_json()["error"]["fields"]
