"""The demo street and its pilot communities load into an empty database, once."""
from __future__ import annotations

from etl.__main__ import main
from geodata import areas


def test_demo_loads_once_into_an_empty_database(empty_areas, database_url, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert main(["demo", "--if-empty"]) == 0
    conn = empty_areas
    rows = conn.execute(
        """SELECT a.level, a.name, a.name_en, p.code, a.population, ST_IsValid(a.geom)
           FROM areas a LEFT JOIN areas p ON p.id = a.parent_id ORDER BY a.level DESC, a.code"""
    ).fetchall()
    street = [r for r in rows if r[0] == "street"]
    communities = [r for r in rows if r[0] == "community"]
    assert len(street) == 1 and street[0][1] == "紫竹院街道"
    assert len(communities) == 3
    for level, name, name_en, parent_code, population, valid in communities:
        assert name.endswith("社区") and name_en.endswith("Community")
        assert parent_code == "110108015" and population > 0 and valid
    # Around 39.94 N, 116.31 E, as the demo street is.
    lon, lat = conn.execute("SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(ST_Collect(geom)) c FROM areas) s").fetchone()
    assert 116.28 < lon < 116.34 and 39.92 < lat < 39.96
    # A point inside each community finds it.
    for code, x, y in conn.execute(
        "SELECT code, ST_X(p), ST_Y(p) FROM (SELECT code, ST_PointOnSurface(geom) p FROM areas WHERE level = 'community') s"
    ).fetchall():
        assert areas.containing(conn, x, y, "community").code == code
    capsys.readouterr()
    assert main(["demo", "--if-empty"]) == 0
    assert "already loaded" in capsys.readouterr().out
    assert areas.count(conn) == 4
