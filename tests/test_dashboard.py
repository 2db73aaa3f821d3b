"""The dashboard API over HTTP against a real PostGIS: hot spots (the same classes as the core on a planted
cluster), heatmap, choropleth, scope by area, bad input, and the exports re-read with geopandas."""
from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import geopandas as gpd
import h3
import numpy as np
import psycopg
import pytest

import helpers
from geodata import dashboard as dash
from geodata import hotspots as hs
from geodata import exports, permissions
from webmap import create_app
from webmap import db as webdb

# Two neighbouring communities in one street and one far away (lon/lat squares).
DA = (116.30, 39.93, 116.34, 39.96)
DB = (116.34, 39.93, 116.38, 39.96)
DC = (116.50, 39.93, 116.54, 39.96)
STREET = (116.30, 39.93, 116.38, 39.96)
CENTRE = h3.latlng_to_cell(39.945, 116.32, 9)
PLANTED = h3.grid_disk(CENTRE, 1)
PER_PLANTED_CELL = 25
CONTACT = "13900139000 dash-contact@example.org"


def _wkt(box) -> str:
    x0, y0, x1, y1 = box
    return f"POLYGON(({x0} {y0}, {x1} {y0}, {x1} {y1}, {x0} {y1}, {x0} {y0}))"


class World:
    pass


@pytest.fixture(scope="module")
def world(database_url):
    w = World()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE areas, area_loads, issues, issue_events, parties, users RESTART IDENTITY CASCADE")

        def area(code, level, box, parent=None, population=None):
            return conn.execute(
                "INSERT INTO areas (code, name, name_en, level, parent_id, population, geom, source)"
                " VALUES (%s, %s, %s, %s, %s, %s, ST_Multi(ST_GeomFromText(%s, 4326)), 'test') RETURNING id",
                (code, f"社区{code}", f"Community {code}", level, parent, population, _wkt(box))).fetchone()[0]

        w.street = area("DS", "street", STREET)
        w.da = area("DA", "community", DA, w.street, 12000)
        w.db = area("DB", "community", DB, w.street, 8000)
        w.dc = area("DC", "community", DC, None, None)
        rng = np.random.default_rng(6)
        rows = []
        cats = ["litter", "noise", "drain"]
        for k, cell in enumerate(PLANTED):
            lat, lon = h3.cell_to_latlng(cell)
            rows += [(lon, lat, w.da, cats[j % 3], "reported", f"2026-02-{1 + j % 27:02d}") for j in range(PER_PLANTED_CELL)]
        for j in range(150):
            rows.append((rng.uniform(DA[0], DA[2]), rng.uniform(DA[1], DA[3]), w.da, cats[j % 3],
                         "closed" if j % 4 == 0 else "reported", f"2026-0{1 + j % 3}-{1 + j % 27:02d}"))
        for j in range(40):
            rows.append((rng.uniform(DB[0], DB[2]), rng.uniform(DB[1], DB[3]), w.db, cats[j % 3], "reported",
                         f"2026-03-{1 + j % 27:02d}"))
        for j in range(10):
            rows.append((rng.uniform(DC[0], DC[2]), rng.uniform(DC[1], DC[3]), w.dc, "litter", "reported",
                         "2026-03-05"))
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO issues (category, title, description, geom, area_id, status, created_at, due_at,"
                " reporter_contact, closed_at)"
                " VALUES (%s, %s, '楼下垃圾 rubbish', ST_SetSRID(ST_MakePoint(%s, %s), 4326), %s, %s, %s::timestamptz,"
                " %s::timestamptz + interval '2 days', %s, CASE WHEN %s = 'closed' THEN %s::timestamptz + interval '1 day' END)",
                [(c, f"问题 {i}", lon, lat, a, s, t, t, CONTACT, s, t) for i, (lon, lat, a, c, s, t) in enumerate(rows)])
        w.rows = rows
        w.users = {
            "official": helpers.make_user(conn, "official", areas=[w.da]),
            "social_worker": helpers.make_user(conn, "social_worker", areas=[w.street]),
            "resident": helpers.make_user(conn, "resident", areas=[w.da]),
            "admin": helpers.make_user(conn, "admin"),
        }
        w.headers = {role: helpers.token_headers(conn, uid) for role, uid in w.users.items()}
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "test", "RATELIMIT_ENABLED": False})
    w.client = app.test_client()
    w.database_url = database_url
    yield w
    webdb.close_pool(app)


def get(world, path, role="official", **kw):
    headers = world.headers.get(role, {})
    return world.client.get(path, headers=headers, **kw)


def error(resp, status):
    assert resp.status_code == status, resp.get_data(as_text=True)[:500]
    body = resp.get_json()
    assert set(body["error"]) == {"code", "message", "fields"}
    return body["error"]


# ---------------------------------------------------------------- hot spots


def test_hotspots_api_gives_the_core_classes_and_the_planted_cluster_is_hot_at_99(world):
    resp = get(world, "/api/hotspots?area=DA")
    assert resp.status_code == 200 and resp.mimetype == "application/geo+json"
    body = resp.get_json()
    classes = {f["properties"]["cell"]: f["properties"]["class"] for f in body["features"]}
    for cell in PLANTED:
        assert classes[cell] == "hot_99", cell
    assert body["summary"]["issues"] == 7 * PER_PLANTED_CELL + 150
    # The core on the same issues, binned from their points, with the community as the study region.
    points = [(lon, lat) for lon, lat, a, *_ in world.rows if a == world.da]
    with psycopg.connect(world.database_url) as conn:
        geometry = conn.execute("SELECT ST_AsGeoJSON(geom)::json FROM areas WHERE id = %s", (world.da,)).fetchone()[0]
    core = hs.hotspots(hs.bin_points([p[0] for p in points], [p[1] for p in points], 9), area=geometry)
    assert classes == dict(zip(core.cells, core.classes))
    z = {f["properties"]["cell"]: f["properties"]["z"] for f in body["features"]}
    np.testing.assert_allclose([z[c] for c in core.cells], core.z, atol=1e-9)
    assert [e["class"] for e in body["legend"]] == [e["class"] for e in hs.LEGEND]
    assert all(e["text"] and e["explanation"] and e["color"].startswith("#") for e in body["legend"])
    # Coarser hexagons, and the whole scope of the official (their one community) give answers too.
    assert get(world, "/api/hotspots?resolution=7").status_code == 200
    assert get(world, "/api/hotspots").get_json()["summary"]["issues"] == len(points)


def test_new_and_moved_issues_get_their_cells(world):
    with psycopg.connect(world.database_url, autocommit=True) as conn:
        issue_id = conn.execute(
            "INSERT INTO issues (category, title, description, geom, area_id, due_at) VALUES"
            " ('manhole', 't', 'd', ST_SetSRID(ST_MakePoint(116.37, 39.94), 4326), %s, now()) RETURNING id",
            (world.db,)).fetchone()[0]
        assert conn.execute("SELECT h3_9 FROM issue_cells WHERE issue_id = %s", (issue_id,)).fetchone() == (None,)
        body = get(world, "/api/hotspots?category=manhole", "admin").get_json()
        assert [f["properties"]["cell"] for f in body["features"] if f["properties"]["count"]] == \
            [h3.latlng_to_cell(39.94, 116.37, 9)]
        conn.execute("UPDATE issues SET geom = ST_SetSRID(ST_MakePoint(116.36, 39.95), 4326) WHERE id = %s",
                     (issue_id,))
        body = get(world, "/api/hotspots?category=manhole", "admin").get_json()
        assert [f["properties"]["cell"] for f in body["features"] if f["properties"]["count"]] == \
            [h3.latlng_to_cell(39.95, 116.36, 9)]
        stored = conn.execute("SELECT h3_5, h3_11 FROM issue_cells WHERE issue_id = %s", (issue_id,)).fetchone()
        assert stored == (h3.str_to_int(h3.latlng_to_cell(39.95, 116.36, 5)),
                          h3.str_to_int(h3.latlng_to_cell(39.95, 116.36, 11)))
        conn.execute("UPDATE issues SET status = 'rejected', closed_at = now() WHERE id = %s", (issue_id,))


def test_a_fill_waits_for_cells_another_request_is_computing(world):
    """Two layers of one dashboard fill at once: the second waits for the first instead of counting nothing."""
    import threading

    with psycopg.connect(world.database_url, autocommit=True) as conn, \
            psycopg.connect(world.database_url, autocommit=True) as other:
        ids = [conn.execute(
            "INSERT INTO issues (category, title, description, geom, area_id, due_at) VALUES"
            " ('manhole', 't', 'd', ST_SetSRID(ST_MakePoint(116.37, 39.94 + %s * 0.0001), 4326), %s, now())"
            " RETURNING id", (n, world.db)).fetchone()[0] for n in range(3)]
        with other.transaction():
            # The first request holds the new rows and has not committed its cells yet.
            held = other.execute("SELECT issue_id FROM issue_cells WHERE h3_11 IS NULL ORDER BY issue_id"
                                 " FOR UPDATE").fetchall()
            assert [r[0] for r in held][-3:] == ids
            second = threading.Thread(target=dash.fill_cells, args=(conn,))
            second.start()
            second.join(1.0)
            assert second.is_alive(), "the second fill went ahead without the rows the first one holds"
        second.join(30)
        assert not second.is_alive()
        assert conn.execute("SELECT count(*) FROM issue_cells WHERE issue_id = ANY(%s) AND h3_9 IS NOT NULL",
                            (ids,)).fetchone()[0] == 3
        conn.execute("UPDATE issues SET status = 'rejected', closed_at = now() WHERE id = ANY(%s)", (ids,))


# ---------------------------------------------------------------- bad input and empty selections


@pytest.mark.parametrize("query, field, words", [
    ("/api/hotspots?resolution=4", "resolution", "5 to 11"),
    ("/api/hotspots?resolution=12", "resolution", "5 to 11"),
    ("/api/hotspots?resolution=nine", "resolution", "5 to 11"),
    ("/api/hotspots?resolution=9.5", "resolution", "5 to 11"),
    ("/api/hotspots?area=NOPE", "area", "unknown area"),
    ("/api/hotspots?category=teleport", "category", "unknown category"),
    ("/api/hotspots?since=2026-03-01&until=2026-02-01", "until", "ends before it starts"),
    ("/api/hotspots?status=lost", "status", "unknown status"),
    ("/api/hotspots?since=yesterday", "since", "ISO 8601"),
    ("/api/heatmap?zoom=30", "zoom", ""),
    ("/api/heatmap?bbox=1,2,3", "bbox", "four numbers"),
    ("/api/choropleth?scheme=random", "scheme", "unknown scheme"),
    ("/api/choropleth?area=DA&category=nope", "category", "unknown category"),
    ("/api/issues/export?format=xlsx", "format", "csv"),
    ("/api/issues/export?until=2026-01-01&since=2026-02-01", "until", "ends before it starts"),
])
def test_bad_input_is_a_400_with_a_clear_message(world, query, field, words):
    err = error(get(world, query), 400)
    assert field in err["fields"] or field in err["message"], err
    assert words in err["message"] + " ".join(err["fields"].values())


def test_empty_selection_gives_empty_layers_and_zeros(world, tmp_path):
    body = get(world, "/api/hotspots?category=fire_lane").get_json()
    assert body["type"] == "FeatureCollection" and body["features"] == []
    assert body["summary"]["issues"] == 0 and set(body["summary"]["classes"].values()) == {0}
    heat = get(world, "/api/heatmap?category=fire_lane").get_json()
    assert heat["points"] == [] and heat["issues"] == 0
    choro = get(world, "/api/choropleth?category=fire_lane").get_json()
    assert [f["properties"]["issues"] for f in choro["features"]] == [0]
    resp = get(world, "/api/issues/export?format=csv&category=fire_lane")
    assert resp.status_code == 200
    assert resp.get_data().decode("utf-8-sig").strip().split("\r\n") == [",".join(exports.COLUMNS)]
    assert get(world, "/api/issues/export?format=geojson&category=fire_lane").get_json()["features"] == []
    path = tmp_path / "empty.gpkg"
    path.write_bytes(get(world, "/api/issues/export?format=gpkg&category=fire_lane").get_data())
    empty = gpd.read_file(path)
    assert len(empty) == 0 and "title" in empty.columns


# ---------------------------------------------------------------- scope


def test_access_is_scoped_to_the_actors_areas(world):
    assert get(world, "/api/hotspots?area=DA").status_code == 200
    assert get(world, f"/api/hotspots?area={world.da}").get_json()["filters"]["area"] == ["DA"]  # by id
    assert error(get(world, "/api/hotspots?area=DB"), 403)
    assert error(get(world, f"/api/hotspots?area={world.db}"), 403)
    assert error(get(world, "/api/hotspots?area=DS"), 403)  # the street is more than the official's community
    assert error(get(world, "/api/heatmap?area=DC"), 403)
    assert error(get(world, "/api/choropleth?area=DB"), 403)
    assert error(get(world, "/api/issues/export?area=DB"), 403)
    assert error(get(world, "/api/hotspots", "resident"), 403)
    assert error(get(world, "/api/heatmap", "anonymous"), 401)
    # The social worker serves the street: both of its communities, not the far one.
    assert get(world, "/api/hotspots?area=DB", "social_worker").status_code == 200
    assert error(get(world, "/api/hotspots?area=DC", "social_worker"), 403)
    sw = get(world, "/api/choropleth", "social_worker").get_json()
    assert sorted(f["properties"]["code"] for f in sw["features"]) == ["DA", "DB"]
    admin = get(world, "/api/choropleth", "admin").get_json()
    assert sorted(f["properties"]["code"] for f in admin["features"]) == ["DA", "DB", "DC"]
    # Without ?area= an official sees their own community only.
    heat = get(world, "/api/heatmap?zoom=12").get_json()
    assert heat["issues"] == sum(1 for r in world.rows if r[2] == world.da)
    # The page: strangers sign in first, residents are refused.
    assert world.client.get("/dashboard").status_code == 302
    assert get(world, "/dashboard", "resident").status_code == 403


# ---------------------------------------------------------------- heatmap and choropleth


def test_heatmap_counts_every_issue_once_at_a_zoom_fitting_resolution(world):
    body = get(world, "/api/heatmap?area=DA&zoom=13&bbox=116.30,39.93,116.33,39.96").get_json()
    assert body["resolution"] == dash.heatmap_resolution(13) == 10
    inside = [r for r in world.rows if r[2] == world.da and r[0] <= 116.33]
    assert sum(p[2] for p in body["points"]) == body["issues"] == len(inside)
    coarse = get(world, "/api/heatmap?area=DA&zoom=8").get_json()
    assert coarse["resolution"] == 5 and len(coarse["points"]) < len(body["points"])


def test_choropleth_per_residents_or_per_km2_with_class_bounds(world):
    body = get(world, "/api/choropleth?area=DS&status=open", "social_worker").get_json()
    assert body["measure"] == "per_1000_residents"
    values = {f["properties"]["code"]: f["properties"] for f in body["features"]}
    open_da = sum(1 for r in world.rows if r[2] == world.da and r[4] != "closed")
    assert values["DA"]["issues"] == open_da
    assert values["DA"]["value"] == pytest.approx(open_da * 1000 / 12000, abs=1e-4)
    for f in body["features"]:
        entry = body["legend"][f["properties"]["class"]]
        assert entry["lower"] - 1e-9 <= f["properties"]["value"] <= entry["upper"] + 1e-9
        assert f["properties"]["color"] == entry["color"]
    # DC has no population: with it in scope, every community is measured per km².
    admin = get(world, "/api/choropleth?scheme=equal_interval&k=3", "admin").get_json()
    assert admin["measure"] == "per_km2" and admin["counted"] == "open"
    assert admin["legend"][-1]["upper"] == pytest.approx(max(f["properties"]["value"] for f in admin["features"]))


# ---------------------------------------------------------------- exports


def _listing_ids(world, query: str) -> list[int]:
    ids, url = [], f"/api/issues?limit=1000&{query}"
    while url:
        body = get(world, url).get_json()
        ids += [f["id"] for f in body["features"]]
        nxt = [link["href"] for link in body["links"] if link["rel"] == "next"]
        url = nxt[0] if nxt else None
    return ids


def test_exports_reread_with_geopandas_give_the_listings_rows(world, tmp_path):
    query = "area=DA&status=reported&since=2026-01-15&until=2026-03-20"
    expected = _listing_ids(world, query)
    assert len(expected) > 100
    before = set(Path(tempfile.gettempdir()).glob("issues-export-*"))
    frames = {}
    for fmt in ("csv", "geojson", "gpkg"):
        resp = get(world, f"/api/issues/export?format={fmt}&{query}")
        assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
        assert "attachment" in resp.headers["Content-Disposition"]
        data = resp.get_data()
        path = tmp_path / f"issues.{fmt}"
        path.write_bytes(data)
        if fmt == "csv":
            assert data.startswith(b"\xef\xbb\xbf")  # the BOM, for Excel
            frame = gpd.read_file(path, engine="pyogrio", X_POSSIBLE_NAMES="lon", Y_POSSIBLE_NAMES="lat",
                                  KEEP_GEOM_COLUMNS="NO")
            assert frame.columns[0] == "id"  # not "\ufeffid"
            frame["id"] = frame["id"].astype(int)
        else:
            frame = gpd.read_file(path, engine="pyogrio")
        frames[fmt] = frame
        assert list(frame["id"]) == expected, fmt
        assert "reporter_contact" not in frame.columns
        assert set(frame["title"].str.startswith("问题")) == {True}
        assert (frame.geometry.x.round(6).between(DA[0], DA[2])).all()
    assert frames["gpkg"].crs.to_epsg() == 4326
    assert str(frames["gpkg"]["created_at"].dtype).startswith("datetime64")
    np.testing.assert_allclose(frames["csv"].geometry.x, frames["gpkg"].geometry.x, atol=1e-7)
    assert set(Path(tempfile.gettempdir()).glob("issues-export-*")) == before  # the temporary GeoPackage is gone


def test_csv_cells_a_spreadsheet_would_run_as_formulas_are_kept_as_text():
    row = dict.fromkeys(exports.columns(True))
    row.update(id=7, title="=HYPERLINK(\"http://evil.example\",\"click\")", description="@SUM(A1:A9)",
               category="+cmd", reporter_contact="-2+3", area_name="\tTab", lon=-0.5, lat=39.9, supports_count=0)
    text = b"".join(exports.csv_chunks(iter([row]), contact=True)).decode("utf-8-sig")
    [cells] = list(csv.DictReader(io.StringIO(text)))
    assert cells["title"] == "'=HYPERLINK(\"http://evil.example\",\"click\")"
    assert cells["description"] == "'@SUM(A1:A9)" and cells["category"] == "'+cmd"
    assert cells["reporter_contact"] == "'-2+3" and cells["area_name"] == "'\tTab"
    # Numbers stay numbers: only text is guarded.
    assert cells["lon"] == "-0.5" and cells["id"] == "7" and cells["supports_count"] == "0" and cells["duplicate_of"] == ""


def test_contact_details_only_for_entitled_staff_on_request(world, monkeypatch):
    with psycopg.connect(world.database_url, autocommit=True) as conn:
        start = conn.execute("SELECT coalesce(max(id), 0) FROM audit_log").fetchone()[0]
    resp = get(world, "/api/issues/export?format=csv&area=DA&contact=1")
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(resp.get_data().decode("utf-8-sig"))))
    assert rows and {r["reporter_contact"] for r in rows} == {CONTACT}
    body = get(world, "/api/issues/export?format=geojson&area=DA").get_json()
    assert "reporter_contact" not in body["features"][0]["properties"]
    with psycopg.connect(world.database_url, autocommit=True) as conn:
        logged = conn.execute("SELECT action, actor_role FROM audit_log WHERE id > %s", (start,)).fetchall()
    assert logged == [("issues.export_contact", "official")]
    # A role that may export but not see contacts (the table changed) gets the rows, but no contacts.
    monkeypatch.setitem(permissions.PERMISSIONS, "issue.view_contact", {"social_worker": permissions.AREA})
    assert error(get(world, "/api/issues/export?format=csv&area=DA&contact=1"), 403)
    assert get(world, "/api/issues/export?format=csv&area=DA").status_code == 200
    assert error(get(world, "/api/issues/export", "resident"), 403)
