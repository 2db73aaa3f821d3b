"""Reporting from a phone in a real browser: tap the map, see "me too" for what is already there, send, find it on the map."""
from __future__ import annotations

import pytest

from geodata import chinacrs, issues
from geodata.permissions import Actor

DESCRIPTION = "路灯下堆满了垃圾袋 Rubbish bags under the lamp"


def _inside_point(conn) -> tuple[float, float]:
    """A point well inside the first demo community (40 m from its edge)."""
    row = conn.execute(
        """SELECT ST_X(p), ST_Y(p) FROM (
               SELECT (ST_Dump(ST_GeneratePoints(ST_Buffer(geom::geography, -40)::geometry, 1, 11))).geom AS p
               FROM (SELECT geom FROM areas WHERE level = 'community' ORDER BY code LIMIT 1) a) s""").fetchone()
    return float(row[0]), float(row[1])


def _screen_point(page, handle: str, lat: float, lon: float) -> tuple[float, float]:
    """Where on the screen a stored (WGS84) place is drawn by the page's map."""
    return tuple(page.evaluate(
        f"""([lat, lon]) => {{ var h = window.{handle}; var map = h.map || h.layer._map;
             var p = map.latLngToContainerPoint(h.toDisplay(lat, lon));
             var r = map.getContainer().getBoundingClientRect(); return [p.x + r.left, p.y + r.top]; }}""",
        [lat, lon]))


def _open_report(rec, query: str = ""):
    page = rec.page
    page.goto(rec.base + "/report" + query)
    page.wait_for_function("window.reportMap && document.querySelectorAll('.rp-map .leaflet-overlay-pane path').length >= 1",
                           timeout=15000)
    # The outlines fit the view with an animation: tap only once the map stands still.
    page.wait_for_function("!window.reportMap.map._animatingZoom && !(window.reportMap.map._panAnim &&"
                           " window.reportMap.map._panAnim._inProgress)", timeout=5000)
    page.wait_for_timeout(300)
    return page


def _live_map_shows(page, base: str, lat: float, lon: float, want: set[int]):
    page.goto(base + "/")
    page.wait_for_function("window.liveMap && window.liveMap.drawn", timeout=15000)
    page.evaluate("([lat, lon]) => window.liveMap.layer._map.setView(window.liveMap.toDisplay(lat, lon), 18,"
                  " {animate: false})", [lat, lon])
    page.wait_for_function("(want) => { var got = window.liveMap.drawn().issues;"
                           " return want.every(function (id) { return got.indexOf(id) >= 0; }); }",
                           arg=sorted(want), timeout=15000)


def test_a_report_made_by_tapping_the_map_on_a_phone(demo_areas, phone):
    conn = demo_areas
    lon, lat = _inside_point(conn)
    existing = issues.report(conn, Actor(client_key="neighbour"), {
        "lon": lon, "lat": lat, "category": "litter", "description": "已经报告过 reported before",
        "title": "Rubbish by the lamp"}).issue
    page = phone.page
    # The live map first, so that its tiles of this place are in the browser's cache before the report.
    _live_map_shows(page, phone.base, lat, lon, {existing.id})

    page = _open_report(phone)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    x, y = _screen_point(page, "reportMap", lat + 0.0001, lon + 0.0001)  # ~14 m from the existing issue
    page.touchscreen.tap(x, y)
    page.wait_for_function("document.getElementById('lat').value !== ''", timeout=5000)
    stored = (float(page.input_value("#lon")), float(page.input_value("#lat")))
    # Within a pixel or two of the tapped place (the view is zoomed out to the whole street).
    assert abs(stored[0] - (lon + 0.0001)) < 1.5e-4 and abs(stored[1] - (lat + 0.0001)) < 1.5e-4

    # Choosing the category lists the open issue nearby, with "me too".
    page.locator(".rp-category", has=page.locator("input[value=litter]")).tap()
    item = page.locator(f'.rp-nearby-item[data-issue-id="{existing.id}"]')
    item.wait_for(timeout=10000)
    assert item.locator("a").inner_text() == "Rubbish by the lamp"
    item.locator("button.rp-metoo").tap()
    page.wait_for_function(f"document.querySelector('.rp-nearby-item[data-issue-id=\"{existing.id}\"] .rp-supports')"
                           ".textContent === '1'", timeout=10000)
    assert issues.load(conn, existing.id).supports_count == 1
    phone.screenshot("report-phone-nearby")

    page.fill("#description", DESCRIPTION)
    page.fill("#contact", "13800000000")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.locator("#location").scroll_into_view_if_needed()
    phone.screenshot("report-phone")
    # Two quick taps on "send": one issue.
    page.locator("button.rp-submit").dblclick()
    page.wait_for_url("**/issues/*?token=*", timeout=15000)
    new_id = int(page.url.split("/issues/")[1].split("?")[0])
    assert conn.execute("SELECT count(*) FROM issues WHERE description = %s", (DESCRIPTION,)).fetchone()[0] == 1
    assert page.locator("#private-link").is_visible()
    assert page.input_value("#private-link-text").endswith(page.url.split("/issues/")[1].replace("&reported=1", ""))
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    api = page.request.get(f"{phone.base}/api/issues/{new_id}").json()
    assert api["properties"]["description"] == DESCRIPTION and api["properties"]["category"] == "litter"
    assert api["geometry"]["coordinates"] == pytest.approx(list(stored), abs=1e-7)
    assert "13800000000" not in str(api)

    # Back on the live map, the new issue is drawn beside the old one (its tiles were not served stale).
    _live_map_shows(page, phone.base, lat, lon, {existing.id, new_id})
    assert phone.external == []
    assert phone.console_errors == []


def test_without_scripts_the_form_still_reports(demo_areas, make_page, live_server):
    conn = demo_areas
    lon, lat = _inside_point(conn)
    rec = make_page(live_server, java_script_enabled=False, viewport={"width": 375, "height": 667})
    page = rec.page
    page.goto(live_server + "/report")
    assert page.locator("noscript").count() == 1
    page.fill("#description", "no scripts here")
    page.locator("button.rp-submit").click()
    # Nothing chosen for the place and category: the same form with messages next to them.
    assert page.locator("#lat-problem").is_visible() and page.locator("#category-problem").is_visible()
    assert page.input_value("#description") == "no scripts here"
    page.fill("#lat", f"{lat:.7f}")
    page.fill("#lon", f"{lon:.7f}")
    page.locator(".rp-category", has=page.locator("input[value=drain]")).click()
    page.locator("button.rp-submit").click()
    page.wait_for_url("**/issues/*?token=*", timeout=10000)
    assert page.locator("#private-link").is_visible()
    row = conn.execute("SELECT category, ST_X(geom), ST_Y(geom) FROM issues WHERE description = 'no scripts here'"
                       ).fetchall()
    assert len(row) == 1 and row[0][0] == "drain"
    assert row[0][1] == pytest.approx(lon, abs=1e-7) and row[0][2] == pytest.approx(lat, abs=1e-7)
    assert rec.external == []


def test_on_a_gcj02_basemap_the_pin_is_shifted_and_the_form_gets_wgs84(demo_areas, start_server, make_page):
    conn = demo_areas
    lon, lat = (round(v, 7) for v in _inside_point(conn))
    rec = make_page(start_server(BASEMAP_CRS="gcj02"))
    page = _open_report(rec, f"?lat={lat:.7f}&lon={lon:.7f}")
    # The preselected WGS84 place is drawn where the GCJ-02 basemap has it.
    shown = page.evaluate("(() => { var p = window.reportMap.marker().getLatLng(); return [p.lng, p.lat]; })()")
    want = chinacrs.wgs84_to_gcj02(lon, lat)
    assert shown == pytest.approx([float(want[0]), float(want[1])], abs=1e-9)
    # A tap where the basemap draws another place fills the form with that place in WGS84.
    x, y = _screen_point(page, "reportMap", lat + 0.0003, lon - 0.0002)
    page.mouse.click(x, y)
    page.wait_for_function(f"Math.abs(parseFloat(document.getElementById('lat').value) - {lat + 0.0003}) < 2e-5",
                           timeout=5000)
    assert float(page.input_value("#lon")) == pytest.approx(lon - 0.0002, abs=2e-5)
    assert rec.external == []


def test_the_form_is_reachable_by_keyboard(demo_areas, desktop):
    page = _open_report(desktop)
    reached = []
    for _ in range(60):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("(() => { var e = document.activeElement;"
                                     " return e.id || e.name || e.className || e.tagName; })()"))
        if reached[-1] == "primary rp-submit":
            break
    wanted = ["use-location", "lat", "lon", "category", "description", "title", "contact", "primary rp-submit"]
    positions = [reached.index(name) for name in wanted]
    assert positions == sorted(positions), reached
    # A category is chosen from the keyboard, and the map is one stop on the way.
    assert any(str(name).startswith("map_") for name in reached), reached  # folium's map container
    page.focus('input[name="category"]')
    page.keyboard.press("Space")
    assert page.evaluate("document.querySelector('input[name=category]:checked') !== null")


def test_use_my_location_puts_the_pin_where_the_device_is(demo_areas, live_server, make_page):
    lon, lat = _inside_point(demo_areas)
    rec = make_page(live_server, geolocation={"latitude": lat, "longitude": lon}, permissions=["geolocation"],
                    viewport={"width": 375, "height": 667}, has_touch=True, is_mobile=True)
    page = _open_report(rec)
    page.locator("#use-location").tap()
    page.wait_for_function("document.getElementById('lat').value !== ''", timeout=10000)
    assert float(page.input_value("#lat")) == pytest.approx(lat, abs=1e-7)
    assert float(page.input_value("#lon")) == pytest.approx(lon, abs=1e-7)
    assert page.evaluate("window.reportMap.map.getZoom()") >= 17
    assert page.locator("#map-status").inner_text()
    assert rec.external == []
