"""Bad input to the dashboard APIs and the issue tiles is a 400 in the error format, never a 500: Unicode digits,
ids too long for a bigint, control characters in filters, dates at the ends of the calendar, and repeated
tile parameters read the same way by the WSGI fast path and the Flask view."""
from __future__ import annotations

import psycopg
import pytest

import helpers
from apps import app_for

DASHBOARD_APIS = ("/api/hotspots", "/api/heatmap", "/api/choropleth", "/api/issues/export")
SQUARE = "POLYGON((116.30 39.93, 116.32 39.93, 116.32 39.95, 116.30 39.95, 116.30 39.93))"
TILE = "/tiles/issues/15/26978/12413.pbf"


class World:
    pass


@pytest.fixture(scope="module")
def world(database_url, leave_no_people_behind):
    w = World()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE areas, area_loads, issues, issue_events, parties, users RESTART IDENTITY CASCADE")
        # Three areas, so that an id 3 exists for "٣" to be mistaken for.
        w.area_ids = [conn.execute(
            "INSERT INTO areas (code, name, level, geom, source)"
            " VALUES (%s, %s, 'community', ST_Multi(ST_GeomFromText(%s, 4326)), 'test') RETURNING id",
            (code, f"社区{code}", SQUARE)).fetchone()[0] for code in ("IN-1", "IN-2", "IN-3")]
        w.headers = helpers.token_headers(conn, helpers.make_user(conn, "admin"))
    with app_for(database_url, RATELIMIT_ENABLED=False) as app:
        w.client = app.test_client()
        yield w


def get(world, path, **kw):
    return world.client.get(path, headers=world.headers, **kw)


def refused(resp, field, message=None):
    assert resp.status_code == 400, (resp.status_code, resp.get_data(as_text=True)[:300])
    error = resp.get_json()["error"]
    assert set(error) == {"code", "message", "fields"} and field in error["fields"], error
    if message is not None:
        assert message in error["fields"][field], error


# ---------------------------------------------------------------- area: ids are ASCII digits, else a code


@pytest.mark.parametrize("area", ["%C2%B2", "%D9%A3", "1" * 10_000, "0"])
def test_stats_area_that_is_not_an_ascii_id_is_a_400(world, area):
    refused(get(world, f"/api/stats?area={area}"), "area")


def test_stats_area_by_ascii_id_or_code_still_works(world):
    assert get(world, "/api/stats?area=3").get_json()["filters"]["area"] == "IN-3"
    assert get(world, "/api/stats?area=IN-2").get_json()["filters"]["area"] == "IN-2"


@pytest.mark.parametrize("path", DASHBOARD_APIS)
@pytest.mark.parametrize("area", ["%C2%B2", "%D9%A3", "1" * 10_000])
def test_dashboard_area_that_is_not_an_ascii_id_is_a_400(world, path, area):
    refused(get(world, f"{path}?area={area}"), "area")


def test_dashboard_area_by_ascii_id_or_code_still_works(world):
    body = get(world, "/api/heatmap?area=3,IN-2").get_json()
    assert sorted(body["filters"]["area"]) == ["IN-2", "IN-3"]


# ---------------------------------------------------------------- control characters in filters


@pytest.mark.parametrize("query, field", [("category=%00", "category"), ("area=%00", "area"),
                                          ("area=IN-1%01", "area"), ("category=lit%1Fter", "category")])
def test_stats_control_characters_in_a_filter_are_a_400(world, query, field):
    refused(get(world, f"/api/stats?{query}"), field, "must not contain control characters")


@pytest.mark.parametrize("path", DASHBOARD_APIS)
@pytest.mark.parametrize("query, field", [("category=%00", "category"), ("area=%00", "area"),
                                          ("area=IN-1,%00", "area"), ("category=litter,no%00ise", "category")])
def test_dashboard_control_characters_in_a_filter_are_a_400(world, path, query, field):
    refused(get(world, f"{path}?{query}"), field, "must not contain control characters")


# ---------------------------------------------------------------- dates at the ends of the calendar


@pytest.mark.parametrize("query, field", [
    ("until=0001-01-05", "until"), ("since=9999-12-30&until=9999-12-31", "since"), ("until=9999-12-31", "until"),
    ("since=0001-01-01&until=0001-01-02", "since"), ("since=1899-12-31&until=1900-01-05", "since"),
    ("until=3000-01-01", "until"),
    ("since=%D9%A2%D9%A0%D9%A2%D9%A6-03-01", "since"),
])
def test_stats_dates_outside_1900_to_2999_are_a_400(world, query, field):
    refused(get(world, f"/api/stats?{query}"), field)


@pytest.mark.parametrize("query", ["until=1900-01-01", "since=1900-01-01&until=1900-01-01",
                                   "since=2999-12-01&until=2999-12-31", "since=2999-12-31&until=2999-12-31"])
def test_stats_dates_at_the_bounds_are_answered(world, query):
    assert get(world, f"/api/stats?{query}").status_code == 200


@pytest.mark.parametrize("path", DASHBOARD_APIS)
def test_dashboard_dates_outside_the_years_are_a_400(world, path):
    refused(get(world, f"{path}?until=9999-12-31T23:00:00-14:00"), "until")


# ---------------------------------------------------------------- numbers in ASCII digits only


@pytest.mark.parametrize("query, field", [
    ("/api/hotspots?k=%D9%A3", "k"), ("/api/hotspots?resolution=%D9%A9", "resolution"),
    ("/api/hotspots?resolution=%EF%BC%99", "resolution"), ("/api/heatmap?zoom=%D9%A3", "zoom"),
    ("/api/choropleth?k=%D9%A3", "k"),
])
def test_dashboard_numbers_in_other_digits_are_a_400(world, query, field):
    resp = get(world, query)
    assert resp.status_code == 400, resp.get_data(as_text=True)[:300]
    error = resp.get_json()["error"]
    assert set(error) == {"code", "message", "fields"}
    assert field in error["fields"] or field in error["message"], error


@pytest.mark.parametrize("path", ["%D9%A3/0/0", "3/%D9%A0/0", "3/0/%D9%A0", "%C2%B2/0/0"])
def test_tile_address_in_other_digits_is_a_400(world, path):
    resp = world.client.get(f"/tiles/issues/{path}.pbf")
    assert resp.status_code == 400
    assert resp.get_json()["error"]["code"] == "invalid_parameter"


# ---------------------------------------------------------------- repeated tile parameters


@pytest.mark.parametrize("query, field", [("status=bogus&status=reported", "status"),
                                          ("category=%3Cx%3E&category=litter", "category"),
                                          ("crs=bd09&crs=wgs84", "crs")])
def test_a_tile_reads_the_first_of_repeated_parameters_on_get_and_head(world, query, field):
    for method in (world.client.get, world.client.head):
        resp = method(f"{TILE}?{query}")
        assert resp.status_code == 400, (method, resp.status_code)
    assert field in world.client.get(f"{TILE}?{query}").get_json()["error"]["fields"]


@pytest.mark.parametrize("query, crs", [("crs=wgs84&crs=gcj02", "wgs84"), ("crs=gcj02&crs=wgs84", "gcj02"),
                                        ("crs=&crs=gcj02", "wgs84"), ("status=reported&status=bogus", "wgs84")])
def test_get_and_head_of_a_tile_agree_on_repeated_parameters(world, query, crs):
    got = world.client.get(f"{TILE}?{query}")
    head = world.client.head(f"{TILE}?{query}")
    assert got.status_code == head.status_code == 200
    assert got.headers["ETag"] == head.headers["ETag"]
    assert got.headers["ETag"].strip('"').endswith("." + crs)

