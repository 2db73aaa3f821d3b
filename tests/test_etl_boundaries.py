"""The boundary loader (etl.boundaries, `python -m etl boundaries`) against a real PostGIS.

Every test builds its own small files in tmp_path. Whenever a load is refused, the areas table
must be exactly as before (compared row by row, geometry bytes and loaded_at included) and no
area_loads row may have been added.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import MultiPolygon, Polygon

from etl import boundaries
from etl.boundaries import BoundaryLoadError, Options
from geodata import areas, chinacrs

ROOT = Path(__file__).resolve().parents[1]
GEOD = Geod(ellps="WGS84")

# Small squares in Haidian, Beijing (about 0.85 km x 1.1 km for a 0.01 degree side).
LON0, LAT0 = 116.30, 39.93


def square(x0: float, y0: float, side: float = 0.01) -> Polygon:
    return shapely.box(x0, y0, x0 + side, y0 + side)


A = square(LON0, LAT0)
B = square(LON0 + 0.01, LAT0)  # shares an edge with A: touching, not overlapping
C = square(LON0 + 0.02, LAT0)
BASE = [("A", "c-a", A), ("B", "c-b", B), ("C", "c-c", C)]


# ---------------------------------------------------------------- helpers


def ring(poly: Polygon) -> list[list[float]]:
    return [list(xy) for xy in poly.exterior.coords]


def feature(props: dict, geometry) -> dict:
    if geometry is not None and not isinstance(geometry, dict):
        geometry = shapely.geometry.mapping(geometry)
    return {"type": "Feature", "properties": props, "geometry": geometry}


def write_geojson(path: Path, features: list[dict]) -> Path:
    """GeoJSON written by hand (not by GDAL), UTF-8."""
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False),
                    encoding="utf-8")
    return path


def simple_file(path: Path, rows=BASE, **extra) -> Path:
    """A GeoJSON of (name, code, polygon) rows."""
    return write_geojson(path, [feature({"name": n, "code": c, **extra}, g) for n, c, g in rows])


def load(conn, path: Path, **kw) -> boundaries.LoadReport:
    return boundaries.load(conn, Options(path=Path(path), **kw))


def snapshot(conn):
    """Everything about every area, byte for byte, plus how many loads the ledger holds."""
    rows = conn.execute(
        """SELECT id, code, name, name_en, level, parent_id, population, ST_AsBinary(geom), source, loaded_at
           FROM areas ORDER BY code"""
    ).fetchall()
    ledger = conn.execute("SELECT count(*) FROM area_loads").fetchone()[0]
    return rows, ledger


def refused(conn, path: Path, match: str, **kw) -> str:
    """The load is refused with a BoundaryLoadError matching `match` and changes nothing at all."""
    before = snapshot(conn)
    with pytest.raises(BoundaryLoadError, match=match) as info:
        load(conn, path, **kw)
    assert snapshot(conn) == before
    return str(info.value)


def stored(conn, code: str):
    wkb = conn.execute("SELECT ST_AsBinary(geom) FROM areas WHERE code = %s", (code,)).fetchone()[0]
    return shapely.from_wkb(bytes(wkb))


def area_row(conn, code: str) -> dict:
    row = conn.execute(
        """SELECT id, name, name_en, level, parent_id, population, GeometryType(geom), ST_NDims(geom), ST_SRID(geom),
                  ST_IsValid(geom), loaded_at
           FROM areas WHERE code = %s""",
        (code,),
    ).fetchone()
    assert row is not None, f"area {code} not stored"
    keys = ("id", "name", "name_en", "level", "parent_id", "population", "type", "ndims", "srid", "valid", "loaded_at")
    return dict(zip(keys, row))


def counts(report) -> tuple[int, int, int, int, int]:
    return report.inserted, report.updated, report.unchanged, report.repaired, report.rejected


def codes_in_db(conn) -> list[str]:
    return [r[0] for r in conn.execute("SELECT code FROM areas ORDER BY code")]


def ledger(conn) -> list[tuple]:
    return conn.execute(
        "SELECT source, level, inserted, updated, unchanged, repaired, rejected FROM area_loads ORDER BY id"
    ).fetchall()


def assert_same_coords(got, expected, tol: float = 1e-6) -> None:
    a, b = shapely.get_coordinates(got), shapely.get_coordinates(expected)
    assert a.shape == b.shape
    assert np.abs(a - b).max() < tol


def shift_m(lon1, lat1, lon2, lat2) -> float:
    return GEOD.inv(lon1, lat1, lon2, lat2)[2]


@pytest.fixture
def db(empty_areas):
    return empty_areas


@pytest.fixture
def seeded(db, tmp_path):
    """Three communities already loaded, so that refusals have something to leave untouched."""
    report = load(db, simple_file(tmp_path / "seed.geojson"))
    assert counts(report) == (3, 0, 0, 0, 0)
    return db


# ---------------------------------------------------------------- formats


def test_geojson_loads_every_feature_as_a_multipolygon(db, tmp_path):
    path = simple_file(tmp_path / "communities.geojson", population=1200)
    report = load(db, path)

    assert (report.read, *counts(report)) == (3, 3, 0, 0, 0, 0)
    assert report.source == "communities.geojson" and report.level == "community"
    assert [c[:2] for c in report.changes] == [("insert", "c-a"), ("insert", "c-b"), ("insert", "c-c")]
    assert report.overlaps == []  # A, B and C only share edges
    assert codes_in_db(db) == ["c-a", "c-b", "c-c"]
    row = area_row(db, "c-a")
    assert (row["name"], row["level"], row["population"], row["parent_id"]) == ("A", "community", 1200, None)
    assert (row["type"], row["ndims"], row["srid"], row["valid"]) == ("MULTIPOLYGON", 2, 4326, True)
    assert_same_coords(stored(db, "c-b"), B, tol=1e-12)
    assert ledger(db) == [("communities.geojson", "community", 3, 0, 0, 0, 0)]


def test_shapefile_and_zipped_shapefile(db, tmp_path):
    gdf = gpd.GeoDataFrame({"name": [n for n, _, _ in BASE], "code": [c for _, c, _ in BASE]},
                           geometry=[g for _, _, g in BASE], crs="EPSG:4326")
    shp_dir = tmp_path / "shp"
    shp_dir.mkdir()
    gdf.to_file(shp_dir / "communities.shp")
    report = load(db, shp_dir / "communities.shp")
    assert counts(report) == (3, 0, 0, 0, 0)
    for _, code, geom in BASE:
        assert stored(db, code).equals(geom)
        assert area_row(db, code)["type"] == "MULTIPOLYGON"

    # OGR opens the directory too, as one data source.
    report = load(db, shp_dir)
    assert counts(report) == (0, 0, 3, 0, 0)
    assert [r[0] for r in ledger(db)] == ["communities.shp", "shp"]

    # The same shapefile zipped: read through the .zip, every area already as stored.
    archive = tmp_path / "communities.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in sorted(shp_dir.iterdir()):
            zf.write(part, part.name)
    before = snapshot(db)[0]
    report = load(db, archive)
    assert counts(report) == (0, 0, 3, 0, 0)
    assert report.source == "communities.zip"
    assert snapshot(db)[0] == before


def test_geopackage_layer_option_picks_one_of_two_layers(db, tmp_path):
    path = tmp_path / "two.gpkg"
    gpd.GeoDataFrame({"name": ["Streets A"], "code": ["s-1"]}, geometry=[A], crs="EPSG:4326").to_file(
        path, layer="streets")
    gpd.GeoDataFrame({"name": ["Comm B", "Comm C"], "code": ["k-b", "k-c"]}, geometry=[B, C],
                     crs="EPSG:4326").to_file(path, layer="communities")
    assert sorted(pyogrio.list_layers(path)[:, 0]) == ["communities", "streets"]

    report = load(db, path, layer="communities")
    assert counts(report) == (2, 0, 0, 0, 0)
    assert report.source == "two.gpkg:communities"
    assert codes_in_db(db) == ["k-b", "k-c"]

    refused(db, path, "cannot be read", layer="no_such_layer")


def test_kml(db, tmp_path):
    path = tmp_path / "communities.kml"
    gpd.GeoDataFrame({"name": ["A", "B"], "code": ["c-a", "c-b"]}, geometry=[A, B], crs="EPSG:4326").to_file(
        path, driver="KML")
    report = load(db, path)
    assert counts(report) == (2, 0, 0, 0, 0)
    assert area_row(db, "c-a")["name"] == "A"  # KML calls the field "Name": found case-insensitively
    assert shapely.hausdorff_distance(stored(db, "c-b"), B) < 1e-9  # KML writes rounded decimals


def test_csv_with_wkt_column_and_no_crs_assumes_wgs84(db, tmp_path):
    path = tmp_path / "communities.csv"
    path.write_text(
        "code,name,WKT\n"
        f'c-a,A,"{A.wkt}"\n'
        f'c-b,B,"{B.wkt}"\n',
        encoding="utf-8",
    )
    report = load(db, path)
    assert counts(report) == (2, 0, 0, 0, 0)
    assert any("assumed" in w for w in report.warnings)
    assert "assumed" in boundaries.format_report(report)
    assert area_row(db, "c-b")["name"] == "B"
    assert_same_coords(stored(db, "c-a"), A, tol=1e-12)


# ---------------------------------------------------------------- coordinate reference systems


def test_projected_utm_file_is_reprojected_to_lon_lat(db, tmp_path):
    path = tmp_path / "utm.gpkg"
    utm = gpd.GeoDataFrame({"name": ["A", "B"], "code": ["c-a", "c-b"]}, geometry=[A, B],
                           crs="EPSG:4326").to_crs("EPSG:32650")
    assert utm.total_bounds[0] > 1000  # metres, really
    utm.to_file(path)
    report = load(db, path)
    assert counts(report) == (2, 0, 0, 0, 0)
    assert any("32650" in w for w in report.warnings)
    assert_same_coords(stored(db, "c-a"), A, tol=1e-6)
    assert_same_coords(stored(db, "c-b"), B, tol=1e-6)


def test_cgcs2000_file(db, tmp_path):
    path = tmp_path / "cgcs2000.gpkg"
    gpd.GeoDataFrame({"name": ["A"], "code": ["c-a"]}, geometry=[A], crs="EPSG:4490").to_file(path)
    report = load(db, path)
    assert counts(report) == (1, 0, 0, 0, 0)
    assert any("4490" in w for w in report.warnings)
    assert_same_coords(stored(db, "c-a"), A, tol=1e-6)


@pytest.mark.parametrize(
    "system, to_wgs84, min_m, max_m",
    [("gcj02", chinacrs.gcj02_to_wgs84, 300, 1000), ("bd09", chinacrs.bd09_to_wgs84, 600, 2000)],
)
def test_chinese_offset_systems_are_converted_back_to_wgs84(db, tmp_path, system, to_wgs84, min_m, max_m):
    path = simple_file(tmp_path / f"{system}.geojson", [("A", "c-a", A)])
    report = load(db, path, source_crs=system.upper())
    assert counts(report) == (1, 0, 0, 0, 0)
    assert any(system in w for w in report.warnings)

    got = shapely.get_coordinates(stored(db, "c-a"))
    src = shapely.get_coordinates(A)
    lon, lat = to_wgs84(src[:, 0], src[:, 1])
    assert np.abs(got - np.column_stack([lon, lat])).max() < 1e-9
    # In Beijing the offset is hundreds of metres: the coordinates really moved, towards the south-west.
    shifts = [shift_m(*s, *g) for s, g in zip(src, got)]
    assert min_m < min(shifts) and max(shifts) < max_m
    assert (got[:, 0] < src[:, 0]).all() and (got[:, 1] < src[:, 1]).all()


def test_file_without_crs_in_metres_is_refused_until_the_crs_is_named(seeded, tmp_path):
    utm = gpd.GeoSeries([A], crs="EPSG:4326").to_crs("EPSG:32650").iloc[0]
    path = tmp_path / "metres.csv"
    path.write_text(f'name,code,WKT\nA,c-a,"{utm.wkt}"\n', encoding="utf-8")
    message = refused(seeded, path, "coordinate reference system")
    assert "--source-crs" in message

    before = area_row(seeded, "c-a")
    report = load(seeded, path, source_crs="EPSG:32650")
    # The same square, reprojected back: A was already stored like this (up to rounding).
    assert report.inserted == 0 and report.updated + report.unchanged == 1
    assert_same_coords(stored(seeded, "c-a"), A, tol=1e-6)
    assert area_row(seeded, "c-a")["id"] == before["id"]


def test_geojson_in_metres_is_refused_although_geojson_means_wgs84(seeded, tmp_path):
    # GDAL reports EPSG:4326 for every GeoJSON; old exports in a local projected CRS still carry metres.
    utm = gpd.GeoSeries([A], crs="EPSG:4326").to_crs("EPSG:32650").iloc[0]
    path = write_geojson(tmp_path / "metres.geojson", [feature({"name": "A", "code": "c-a"}, B),
                                                       feature({"name": "M", "code": "c-m"}, utm)])
    message = refused(seeded, path, "outside longitude/latitude range")
    assert "1 feature(s)" in message and "--source-crs" in message

    report = load(seeded, write_geojson(tmp_path / "metres_only.geojson", [feature({"name": "M", "code": "c-m"}, utm)]),
                  source_crs="EPSG:32650")
    assert counts(report) == (1, 0, 0, 0, 0)
    assert_same_coords(stored(seeded, "c-m"), A, tol=1e-6)


# ---------------------------------------------------------------- geometry


def test_bow_tie_polygon_is_repaired_and_reported(db, tmp_path):
    x0, y0, x1, y1 = A.bounds
    bow_tie = {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y1], [x1, y0], [x0, y1], [x0, y0]]]}
    path = write_geojson(tmp_path / "bowtie.geojson", [
        feature({"name": "B", "code": "c-b"}, B),
        feature({"name": "Bow tie", "code": "c-bow"}, bow_tie),
    ])
    report = load(db, path)
    assert counts(report) == (2, 0, 0, 1, 0)
    repaired = [n for n in report.notes if n.kind == "repaired"]
    assert len(repaired) == 1
    assert (repaired[0].row, repaired[0].code) == (2, "c-bow")
    assert "Self-intersection" in repaired[0].reason
    assert "row 2 [c-bow]: repaired:" in boundaries.format_report(report)

    row = area_row(db, "c-bow")
    assert (row["type"], row["valid"]) == ("MULTIPOLYGON", True)
    fixed = stored(db, "c-bow")
    assert shapely.get_num_geometries(fixed) == 2  # the two triangles of the bow tie
    assert fixed.area == pytest.approx(A.area / 2, rel=1e-9)


def test_hole_multipolygon_and_z_coordinates(db, tmp_path):
    hole = square(LON0 + 0.003, LAT0 + 0.003, 0.004)
    holed = Polygon(A.exterior.coords, [hole.exterior.coords])
    multi = MultiPolygon([B, square(LON0 + 0.03, LAT0)])
    z_ring = [[x, y, 55.0] for x, y in ring(C)]
    path = write_geojson(tmp_path / "shapes.geojson", [
        feature({"name": "Holed", "code": "c-hole"}, holed),
        feature({"name": "Multi", "code": "c-multi"}, multi),
        feature({"name": "Three D", "code": "c-3d"}, {"type": "Polygon", "coordinates": [z_ring]}),
    ])
    report = load(db, path)
    assert counts(report) == (3, 0, 0, 1, 0)
    assert [(n.row, n.kind, n.code) for n in report.notes] == [(3, "repaired", "c-3d")]
    assert "Z" in report.notes[0].reason

    got = stored(db, "c-hole")
    assert shapely.get_num_geometries(got) == 1 and shapely.get_num_interior_rings(got.geoms[0]) == 1
    assert got.area == pytest.approx(A.area - hole.area, rel=1e-9)
    assert not got.contains(hole.centroid)

    got = stored(db, "c-multi")
    assert got.geom_type == "MultiPolygon" and shapely.get_num_geometries(got) == 2
    assert got.equals(multi)

    assert area_row(db, "c-3d")["ndims"] == 2
    assert not shapely.has_z(stored(db, "c-3d"))
    assert stored(db, "c-3d").equals(C)
    types = {r[0] for r in db.execute("SELECT GeometryType(geom) FROM areas")}
    assert types == {"MULTIPOLYGON"}


def test_point_only_file_is_refused(seeded, tmp_path):
    path = write_geojson(tmp_path / "points.geojson", [
        feature({"name": "P1", "code": "p-1"}, {"type": "Point", "coordinates": [LON0, LAT0]}),
        feature({"name": "P2", "code": "p-2"}, {"type": "Point", "coordinates": [LON0 + 0.001, LAT0]}),
    ])
    message = refused(seeded, path, "none of the 2 feature")
    assert "row 1: geometry is a Point" in message and "row 2: geometry is a Point" in message


def test_points_mixed_with_polygons_are_rejected_row_by_row(db, tmp_path):
    point = {"type": "Point", "coordinates": [LON0 + 0.005, LAT0 + 0.005]}
    line = {"type": "LineString", "coordinates": [[LON0, LAT0], [LON0 + 0.01, LAT0 + 0.01]]}
    path = write_geojson(tmp_path / "mixed.geojson", [
        feature({"name": "A", "code": "c-a"}, A),
        feature({"name": "P", "code": "p-1"}, point),
        feature({"name": "B", "code": "c-b"}, B),
        feature({"name": "Q", "code": "p-2"}, point),
        feature({"name": "L", "code": "l-1"}, line),
        feature({"name": "N", "code": "n-1"}, None),
    ])
    report = load(db, path)
    assert (report.read, *counts(report)) == (6, 2, 0, 0, 0, 4)
    rejected = [(n.row, n.code) for n in report.notes if n.kind == "rejected"]
    assert rejected == [(2, "p-1"), (4, "p-2"), (5, "l-1"), (6, "n-1")]
    reasons = {n.row: n.reason for n in report.notes}
    assert "Point" in reasons[2] and "Point" in reasons[4] and "LineString" in reasons[5]
    assert "no geometry" in reasons[6]
    text = boundaries.format_report(report)
    assert "row 2 [p-1]: rejected" in text and "row 4 [p-2]: rejected" in text
    assert codes_in_db(db) == ["c-a", "c-b"]
    assert ledger(db) == [("mixed.geojson", "community", 2, 0, 0, 0, 4)]


# ---------------------------------------------------------------- overlaps


def _overlap_m2(box: tuple[float, float, float, float]) -> float:
    """Area of a small lon/lat rectangle by hand: degrees times metres per degree at its latitude."""
    x0, y0, x1, y1 = box
    lat = math.radians((y0 + y1) / 2)
    m_per_deg_lat = 111_132.95 - 559.82 * math.cos(2 * lat)
    m_per_deg_lon = 111_412.84 * math.cos(lat)
    return (x1 - x0) * m_per_deg_lon * (y1 - y0) * m_per_deg_lat


def test_overlaps_are_reported_and_the_smaller_area_contains_the_point(db, tmp_path):
    big = square(LON0, LAT0, 0.02)
    small = square(LON0 + 0.015, LAT0 + 0.005, 0.01)  # a quarter of it (0.005 x 0.01 deg) lies in big
    path = simple_file(tmp_path / "overlap.geojson", [("Big", "c-big", big), ("Small", "c-small", small)])
    report = load(db, path)
    assert counts(report) == (2, 0, 0, 0, 0)
    assert len(report.overlaps) == 1
    o = report.overlaps[0]
    assert {o.code_a, o.code_b} == {"c-big", "c-small"} and {o.name_a, o.name_b} == {"Big", "Small"}
    expected = _overlap_m2((LON0 + 0.015, LAT0 + 0.005, LON0 + 0.02, LAT0 + 0.015))
    assert 400_000 < expected < 500_000
    assert o.area_m2 == pytest.approx(expected, rel=0.01)
    assert "overlap: " in boundaries.format_report(report) and " m²" in boundaries.format_report(report)

    in_both = areas.containing(db, LON0 + 0.0175, LAT0 + 0.01, "community")
    assert in_both is not None and in_both.code == "c-small"
    assert areas.containing(db, LON0 + 0.005, LAT0 + 0.005, "community").code == "c-big"
    assert areas.containing(db, LON0 + 0.024, LAT0 + 0.01, "community").code == "c-small"
    assert areas.containing(db, LON0 - 0.05, LAT0, "community") is None

    # An area loaded later from another file that overlaps a stored one is reported too.
    later = simple_file(tmp_path / "later.geojson", [("Later", "c-later", square(LON0 - 0.005, LAT0, 0.01))])
    report = load(db, later)
    assert counts(report) == (1, 0, 0, 0, 0)
    assert [{o.code_a, o.code_b} for o in report.overlaps] == [{"c-big", "c-later"}]
    expected = _overlap_m2((LON0, LAT0, LON0 + 0.005, LAT0 + 0.01))
    assert report.overlaps[0].area_m2 == pytest.approx(expected, rel=0.01)


def test_areas_of_other_levels_do_not_count_as_overlaps(db, tmp_path):
    load(db, simple_file(tmp_path / "street.geojson", [("Street", "s-1", square(LON0, LAT0, 0.03))]),
         level="street")
    report = load(db, simple_file(tmp_path / "communities.geojson"))
    assert report.overlaps == []


# ---------------------------------------------------------------- attributes


@pytest.mark.parametrize(
    "name_key, code_key",
    [("name", "code"), ("NAME", "CODE"), ("名称", "编码"), ("Name", "adcode")],
)
def test_name_and_code_fields_are_detected(db, tmp_path, name_key, code_key):
    path = write_geojson(tmp_path / "auto.geojson", [
        feature({"other": "x", name_key: "紫竹院社区", code_key: "110108015001"}, A),
        feature({"other": "y", name_key: "万寿寺社区", code_key: "110108015002"}, B),
    ])
    report = load(db, path)
    assert counts(report) == (2, 0, 0, 0, 0)
    assert any(f"name={name_key}" in w and f"code={code_key}" in w for w in report.warnings)
    assert db.execute("SELECT code, name FROM areas ORDER BY code").fetchall() == [
        ("110108015001", "紫竹院社区"), ("110108015002", "万寿寺社区")]


def test_numeric_codes_stay_codes(db, tmp_path):
    path = write_geojson(tmp_path / "numeric.geojson", [feature({"name": "A", "code": 110108015001}, A)])
    load(db, path)
    assert codes_in_db(db) == ["110108015001"]


def test_explicit_name_and_code_fields(db, tmp_path):
    path = write_geojson(tmp_path / "explicit.geojson", [
        feature({"name": "decoy", "code": "decoy-1", "title": "Real A", "ident": "r-a"}, A),
        feature({"name": "decoy", "code": "decoy-2", "title": "Real B", "ident": "r-b"}, B),
    ])
    report = load(db, path, name_field="title", code_field="ident")
    assert counts(report) == (2, 0, 0, 0, 0)
    assert db.execute("SELECT code, name FROM areas ORDER BY code").fetchall() == [("r-a", "Real A"), ("r-b", "Real B")]

    message = refused(db, path, "--name-field", name_field="label")
    assert "'label'" in message and all(f in message for f in ("name", "code", "title", "ident"))


def test_missing_name_field_is_refused_listing_the_fields(seeded, tmp_path):
    path = write_geojson(tmp_path / "noname.geojson", [feature({"title": "X", "code": "c-x", "area_ha": 3}, A)])
    message = refused(seeded, path, "no name field")
    assert "title, code, area_ha" in message
    assert "--name-field" in message


def test_gbk_shapefile_needs_the_encoding_option(db, tmp_path):
    path = tmp_path / "gbk.shp"
    gdf = gpd.GeoDataFrame({"名称": ["紫竹院社区", "车道沟社区"], "code": ["g-1", "g-2"]}, geometry=[A, B],
                           crs="EPSG:4326")
    pyogrio.write_dataframe(gdf, path, encoding="GBK")
    assert "紫竹院社区".encode("gbk") in path.with_suffix(".dbf").read_bytes()
    path.with_suffix(".cpg").unlink()

    # Without the .cpg nothing says GBK: the Chinese field name comes out garbled and is not found.
    refused(db, path, "no name field")

    report = load(db, path, encoding="GBK")
    assert counts(report) == (2, 0, 0, 0, 0)
    assert any("name=名称" in w for w in report.warnings)
    assert db.execute("SELECT code, name FROM areas ORDER BY code").fetchall() == [
        ("g-1", "紫竹院社区"), ("g-2", "车道沟社区")]


def test_parent_found_by_containment(db, tmp_path):
    street = square(LON0 - 0.005, LAT0 - 0.005, 0.04)
    load(db, simple_file(tmp_path / "street.geojson", [("Street", "s-1", street)]), level="street")
    outside = square(LON0 + 0.1, LAT0)
    report = load(db, simple_file(tmp_path / "communities.geojson", [*BASE, ("Far", "c-far", outside)]))
    assert counts(report) == (4, 0, 0, 0, 0)
    street_id = area_row(db, "s-1")["id"]
    assert area_row(db, "s-1")["level"] == "street"
    for _, code, _ in BASE:
        assert area_row(db, code)["parent_id"] == street_id
    assert area_row(db, "c-far")["parent_id"] is None


def test_street_loaded_after_its_communities_adopts_them(db, tmp_path):
    load(db, simple_file(tmp_path / "communities.geojson"))
    assert {area_row(db, c)["parent_id"] for _, c, _ in BASE} == {None}
    report = load(db, simple_file(tmp_path / "street.geojson", [("Street", "s-1", square(LON0, LAT0, 0.04))]),
                  level="street")
    assert counts(report) == (1, 0, 0, 0, 0)
    street_id = area_row(db, "s-1")["id"]
    assert {area_row(db, c)["parent_id"] for _, c, _ in BASE} == {street_id}


def test_parent_field_with_parent_codes(db, tmp_path):
    load(db, simple_file(tmp_path / "streets.geojson", [("North", "s-n", square(LON0, LAT0, 0.03)),
                                                          ("South", "s-s", square(LON0, LAT0 - 0.03, 0.03))]),
         level="street")
    # Geometrically every community lies in the north street; the file's parent codes say otherwise.
    path = write_geojson(tmp_path / "communities.geojson", [
        feature({"name": "A", "code": "c-a", "up": "s-n"}, A),
        feature({"name": "B", "code": "c-b", "up": "s-s"}, B),
        feature({"name": "C", "code": "c-c", "up": "s-missing"}, C),
    ])
    report = load(db, path, parent_field="up")
    assert counts(report) == (3, 0, 0, 0, 0)
    assert any("parent=up" in w for w in report.warnings)
    assert area_row(db, "c-a")["parent_id"] == area_row(db, "s-n")["id"]
    assert area_row(db, "c-b")["parent_id"] == area_row(db, "s-s")["id"]
    assert area_row(db, "c-c")["parent_id"] is None
    warnings = [(n.row, n.code) for n in report.notes if n.kind == "warning"]
    assert warnings == [(3, "c-c")]
    assert "s-missing" in report.notes[-1].reason

    refused(db, path, "--parent-field", parent_field="nope")


def test_a_parent_code_equal_to_the_own_code_is_a_warning_on_insert_and_on_update(db, tmp_path):
    load(db, simple_file(tmp_path / "street.geojson", [("Street", "s-1", square(LON0, LAT0, 0.03))]), level="street")

    def communities(parent_of_c: str) -> Path:
        return write_geojson(tmp_path / "communities.geojson", [
            feature({"name": n, "code": c, "parent_code": parent_of_c if c == "c-c" else "s-1"}, g) for n, c, g in BASE
        ])

    for parent_of_c, expected in (("c-c", (3, 0, 0, 0, 0)), ("s-1", (0, 1, 2, 0, 0)), ("c-c", (0, 1, 2, 0, 0))):
        report = load(db, communities(parent_of_c))
        assert counts(report) == expected
        warnings = [(n.row, n.code, n.reason) for n in report.notes if n.kind == "warning"]
        street_id = area_row(db, "s-1")["id"]
        if parent_of_c == "c-c":
            assert warnings == [(3, "c-c", "parent code c-c is the area's own code; left without parent")]
            assert area_row(db, "c-c")["parent_id"] is None
        else:
            assert warnings == []
            assert area_row(db, "c-c")["parent_id"] == street_id
        assert area_row(db, "c-a")["parent_id"] == street_id


def test_population_is_kept_and_impossible_values_become_null(db, tmp_path):
    path = write_geojson(tmp_path / "population.geojson", [
        feature({"name": "A", "code": "c-a", "population": 5400}, A),
        feature({"name": "B", "code": "c-b", "population": -3}, B),
        feature({"name": "C", "code": "c-c", "population": "lots"}, C),
        # Beyond int4: must not wrap around (2**32 + 5000 once arrived as 5000).
        feature({"name": "D", "code": "c-d", "population": 2**32 + 5000}, square(LON0 + 0.03, LAT0)),
        feature({"name": "E", "code": "c-e", "population": "2147483647"}, square(LON0 + 0.04, LAT0)),
    ])
    report = load(db, path)
    assert counts(report) == (5, 0, 0, 0, 0)
    assert db.execute("SELECT code, population FROM areas ORDER BY code").fetchall() == [
        ("c-a", 5400), ("c-b", None), ("c-c", None), ("c-d", None), ("c-e", 2147483647)]

    # CSV cells are text: "inf" and "nan" are not populations either.
    csv = tmp_path / "population.csv"
    csv.write_text(f'name,code,population,WKT\nA,c-a,inf,"{A.wkt}"\nB,c-b,nan,"{B.wkt}"\nC,c-c,12,"{C.wkt}"\n',
                   encoding="utf-8")
    report = load(db, csv)
    assert counts(report) == (0, 2, 1, 0, 0)
    assert db.execute("SELECT code, population FROM areas WHERE code < 'c-d' ORDER BY code").fetchall() == [
        ("c-a", None), ("c-b", None), ("c-c", 12)]


def test_rows_without_name_or_with_a_duplicate_code_are_rejected(db, tmp_path):
    path = write_geojson(tmp_path / "dupes.geojson", [
        feature({"name": "A", "code": "c-a"}, A),
        feature({"name": "  ", "code": "c-b"}, B),
        feature({"name": "C again", "code": "c-a"}, C),
    ])
    report = load(db, path)
    assert counts(report) == (1, 0, 0, 0, 2)
    reasons = {n.row: n.reason for n in report.notes if n.kind == "rejected"}
    assert set(reasons) == {2, 3}
    assert "empty name" in reasons[2] and "duplicate code c-a (first at row 1)" in reasons[3]
    assert db.execute("SELECT code, name FROM areas").fetchall() == [("c-a", "A")]


# ---------------------------------------------------------------- reloads


def test_loading_the_same_file_twice_changes_nothing(db, tmp_path):
    street = square(LON0 - 0.005, LAT0 - 0.005, 0.04)
    load(db, simple_file(tmp_path / "street.geojson", [("Street", "s-1", street)]), level="street")
    path = simple_file(tmp_path / "communities.geojson", population=100)
    first = load(db, path)
    assert counts(first) == (3, 0, 0, 0, 0)
    before = snapshot(db)[0]

    second = load(db, path)
    assert counts(second) == (0, 0, 3, 0, 0)
    assert second.changed_nothing and second.changes == []
    assert "nothing changed" in boundaries.format_report(second)
    assert "nothing changed" not in boundaries.format_report(first)
    assert snapshot(db)[0] == before  # loaded_at included
    assert ledger(db)[-1] == ("communities.geojson", "community", 0, 0, 3, 0, 0)


def test_a_changed_geometry_or_name_updates_exactly_that_row_in_place(seeded, tmp_path):
    def by_code():
        return {r[1]: r for r in snapshot(seeded)[0]}

    before = by_code()
    moved = square(LON0 + 0.01, LAT0 + 0.001)
    report = load(seeded, simple_file(tmp_path / "moved.geojson", [BASE[0], ("B", "c-b", moved), BASE[2]]))
    assert counts(report) == (0, 1, 2, 0, 0)
    assert report.changes == [("update", "c-b", "B")]
    after = by_code()
    assert after["c-a"] == before["c-a"] and after["c-c"] == before["c-c"]
    assert after["c-b"][0] == before["c-b"][0]  # same id
    assert after["c-b"][-1] > before["c-b"][-1]  # loaded_at moved on
    assert stored(seeded, "c-b").equals(moved)

    renamed = [BASE[0], ("B", "c-b", moved), ("C renamed", "c-c", C)]
    report = load(seeded, simple_file(tmp_path / "renamed.geojson", renamed))
    assert counts(report) == (0, 1, 2, 0, 0)
    assert report.changes == [("update", "c-c", "C renamed")]
    again = by_code()
    assert again["c-a"] == after["c-a"] and again["c-b"] == after["c-b"]
    assert again["c-c"][0] == before["c-c"][0] and again["c-c"][2] == "C renamed"
    assert again["c-c"][7] == before["c-c"][7]  # geometry bytes untouched


def test_dry_run_reports_and_writes_nothing(seeded, tmp_path):
    rows = [("A renamed", "c-a", A), BASE[1], BASE[2], ("D", "c-d", square(LON0 + 0.03, LAT0))]
    path = simple_file(tmp_path / "changes.geojson", rows)
    before = snapshot(seeded)
    report = load(seeded, path, dry_run=True)
    assert report.dry_run
    assert counts(report) == (1, 1, 2, 0, 0)
    assert report.changes == [("update", "c-a", "A renamed"), ("insert", "c-d", "D")]
    text = boundaries.format_report(report)
    assert "DRY RUN" in text and "would update: c-a A renamed" in text and "would insert: c-d D" in text
    assert snapshot(seeded) == before

    # The same file for real does what the dry run said.
    report = load(seeded, path)
    assert counts(report) == (1, 1, 2, 0, 0)
    assert codes_in_db(seeded) == ["c-a", "c-b", "c-c", "c-d"]


# ---------------------------------------------------------------- atomicity and bad files


def test_a_database_error_midway_rolls_everything_back(seeded, tmp_path):
    # The update of c-a is applied before the insert of c-boom, which the database then refuses.
    seeded.execute("ALTER TABLE areas ADD CONSTRAINT test_no_boom CHECK (name <> 'boom') NOT VALID")
    try:
        rows = [("A renamed", "c-a", A), ("B", "c-b", square(LON0 + 0.01, LAT0 + 0.002)), BASE[2],
                ("boom", "c-boom", square(LON0 + 0.03, LAT0))]
        message = refused(seeded, simple_file(tmp_path / "boom.geojson", rows), "database refused")
        assert "nothing was written" in message
    finally:
        seeded.execute("ALTER TABLE areas DROP CONSTRAINT test_no_boom")
    assert area_row(seeded, "c-a")["name"] == "A"


def test_empty_file_is_refused(seeded, tmp_path):
    path = write_geojson(tmp_path / "empty.geojson", [])
    refused(seeded, path, "no features")


@pytest.mark.parametrize("kind", ["geojson", "gpkg"])
def test_truncated_file_is_refused(seeded, tmp_path, kind):
    if kind == "geojson":
        whole = simple_file(tmp_path / "whole.geojson")
    else:
        whole = tmp_path / "whole.gpkg"
        gpd.GeoDataFrame({"name": ["A", "B"], "code": ["c-a", "c-b"]}, geometry=[A, B],
                         crs="EPSG:4326").to_file(whole)
    data = whole.read_bytes()
    cut = tmp_path / f"cut.{kind}"
    cut.write_bytes(data[: len(data) // 2])
    message = refused(seeded, cut, "cannot be read")
    assert message.startswith("cut.")


def test_missing_file_is_refused(seeded, tmp_path):
    message = refused(seeded, tmp_path / "nowhere.geojson", "no such file")
    assert "nowhere.geojson" in message


def test_unknown_level_and_crs_are_refused(seeded, tmp_path):
    path = simple_file(tmp_path / "ok.geojson")
    refused(seeded, path, "unknown level", level="province")
    refused(seeded, path, "unknown CRS", source_crs="EPSG:999999")


# ---------------------------------------------------------------- command line


def _cli(database_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run([sys.executable, "-m", "etl", "boundaries", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_cli_loads_a_good_file(db, database_url, tmp_path):
    path = simple_file(tmp_path / "communities.geojson")
    result = _cli(database_url, str(path), "--level", "community")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if "inserted" in line)
    assert lines[header].split() == ["inserted", "updated", "unchanged", "repaired", "rejected"]
    assert lines[header + 1].split() == ["3", "0", "0", "0", "0"]
    assert "Traceback" not in result.stderr
    assert codes_in_db(db) == ["c-a", "c-b", "c-c"]


def test_cli_refuses_a_bad_file(seeded, database_url, tmp_path):
    data = simple_file(tmp_path / "whole.geojson").read_bytes()
    cut = tmp_path / "cut.geojson"
    cut.write_bytes(data[: len(data) // 2])
    before = snapshot(seeded)
    result = _cli(database_url, str(cut))
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") or "\nerror: " in result.stderr
    assert "cut.geojson" in result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    assert snapshot(seeded) == before


def test_several_layers_without_layer_option_is_refused(empty_areas, tmp_path):
    path = tmp_path / "two.gpkg"
    for layer, name in (("streets", "街道"), ("communities", "社区")):
        gpd.GeoDataFrame({"name": [name], "code": [layer]}, geometry=[shapely.box(116.30, 39.93, 116.31, 39.94)],
                         crs="EPSG:4326").to_file(path, layer=layer, driver="GPKG")
    with pytest.raises(BoundaryLoadError, match=r"2 layers \(streets, communities\).*--layer"):
        boundaries.load(empty_areas, Options(path=path))
    assert empty_areas.execute("SELECT count(*) FROM areas").fetchone()[0] == 0


def test_same_polygons_from_shapefile_after_geojson_are_unchanged(empty_areas, tmp_path):
    frame = gpd.GeoDataFrame(
        {"name": ["甲社区", "乙社区"], "code": ["a", "b"]},
        geometry=[shapely.box(116.30, 39.93, 116.31, 39.94), shapely.box(116.31, 39.93, 116.32, 39.94)],
        crs="EPSG:4326",
    )
    frame.to_file(tmp_path / "c.geojson", driver="GeoJSON")
    frame.to_file(tmp_path / "c.shp")
    first = boundaries.load(empty_areas, Options(path=tmp_path / "c.geojson"))
    again = boundaries.load(empty_areas, Options(path=tmp_path / "c.shp"))
    assert (first.inserted, again.inserted, again.updated, again.unchanged) == (2, 0, 0, 2)
    # Stored exteriors run counter-clockwise, as RFC 7946 asks.
    assert empty_areas.execute("SELECT bool_and(ST_IsPolygonCCW(geom)) FROM areas").fetchone()[0]
