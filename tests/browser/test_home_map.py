"""The home map in a real browser: community outlines from the API, escaped names, nothing from outside."""
from __future__ import annotations


def test_home_map_draws_the_three_pilot_communities(demo_areas, desktop):
    page = desktop.page
    page.goto(desktop.base + "/")
    page.wait_for_function("document.querySelectorAll('.leaflet-overlay-pane path').length >= 3", timeout=15000)
    assert page.locator(".leaflet-overlay-pane path").count() == 3
    # Hovering an outline shows its names in a tooltip.
    page.locator(".leaflet-overlay-pane path").first.hover(force=True)
    tooltip = page.locator(".leaflet-tooltip")
    tooltip.wait_for(timeout=5000)
    assert "社区" in tooltip.inner_text()
    desktop.screenshot("home-desktop")
    assert desktop.external == []
    assert desktop.console_errors == []


def test_area_names_are_shown_as_text_never_run(empty_areas, desktop):
    payload = '<img src=x onerror="window.__pwned=1">社区'
    empty_areas.execute(
        """INSERT INTO areas (code, name, level, geom, source)
           VALUES ('xss', %s, 'community',
                   ST_Multi(ST_GeomFromText('POLYGON((116.30 39.93, 116.31 39.93, 116.31 39.94, 116.30 39.94, 116.30 39.93))', 4326)),
                   'test')""",
        (payload,),
    )
    page = desktop.page
    page.goto(desktop.base + "/")
    page.wait_for_function("document.querySelectorAll('.leaflet-overlay-pane path').length >= 1", timeout=15000)
    page.locator(".leaflet-overlay-pane path").first.hover(force=True)
    tooltip = page.locator(".leaflet-tooltip")
    tooltip.wait_for(timeout=5000)
    assert payload in tooltip.inner_text()
    assert tooltip.locator("img").count() == 0
    assert page.evaluate("window.__pwned") is None


def test_home_map_fits_a_phone_without_sideways_scrolling(demo_areas, phone):
    page = phone.page
    page.goto(phone.base + "/")
    page.wait_for_function("document.querySelectorAll('.leaflet-overlay-pane path').length >= 3", timeout=15000)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    phone.screenshot("home-phone")
    assert phone.external == []


def test_no_request_from_the_home_page_leaves_the_machine_except_basemap_tiles(demo_areas, desktop):
    from urllib.parse import urlsplit

    from geodata import issues
    from geodata.permissions import Actor
    from tests.browser.conftest import BASEMAP_HOST

    conn = demo_areas
    lon, lat = conn.execute("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM areas"
                            " WHERE level = 'community' ORDER BY code LIMIT 1) s").fetchone()
    issues.report(conn, Actor(), {"lon": lon, "lat": lat, "category": "litter", "description": "requests test"})
    page = desktop.page
    seen = desktop.requests  # everything the browser context asks for, workers and frames included
    page.goto(desktop.base + "/")
    page.wait_for_function("(() => { var d = window.liveMap && window.liveMap.drawn();"
                           " return d && d.issues.length + d.clustered >= 1; })()", timeout=15000)
    # Use the map a little: a filter, a zoom, the language switch.
    page.locator(".lm-filters select[name=category]").select_option("litter")
    page.locator(".leaflet-control-zoom-in").click()
    page.locator("a.lang-switch").click()
    page.wait_for_function("window.liveMap && document.documentElement.lang === 'en'", timeout=15000)
    page.wait_for_timeout(500)
    hosts = {urlsplit(u).hostname for u in seen if urlsplit(u).scheme in ("http", "https", "ws", "wss")}
    assert hosts <= {"127.0.0.1", BASEMAP_HOST}, hosts
    assert any(urlsplit(u).hostname == BASEMAP_HOST for u in seen)  # basemap tiles were asked for (and allowed)
    assert any("/tiles/issues/" in u for u in seen) and any("/assets/leaflet/" in u for u in seen)
    assert desktop.external == []
